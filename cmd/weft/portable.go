package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/events"
	"github.com/weft-run/weft/persistence"
)

// The portable format is JSON lines: one persistence.Record per line
// (version, execution record, step checkpoints, the event log as stored).
// It is what export writes, import reads, and replay-check --file checks.

func exportCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("weft export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var t target
	t.register(fs, true, false)
	var f lsFilter
	f.register(fs, 0)
	out := fs.String("o", "", "write to this file instead of stdout")
	return &ffcli.Command{
		Name: "export", FlagSet: fs, Options: envOptions(),
		ShortUsage: "weft export [ID...] [--workflow W] [--status S] [--since D] [--data-dir D | --server URL] [-o file.jsonl]",
		ShortHelp:  "Write executions (record, steps, events) as portable JSON lines.",
		Exec: func(ctx context.Context, ids []string) error {
			ids, err := interspersed(fs, ids)
			if err != nil {
				return err
			}
			w := stdout
			if *out != "" {
				file, err := os.Create(*out)
				if err != nil {
					return err
				}
				defer file.Close()
				w = file
			}
			bw := bufio.NewWriter(w)
			n, err := export(ctx, &t, &f, ids, bw, stderr)
			if ferr := bw.Flush(); err == nil {
				err = ferr
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "exported %d executions\n", n)
			return nil
		},
	}
}

func export(ctx context.Context, t *target, f *lsFilter, ids []string, w io.Writer, stderr io.Writer) (int, error) {
	if len(ids) == 0 {
		snaps, err := f.list(ctx, t)
		if err != nil {
			return 0, err
		}
		for _, s := range snaps {
			ids = append(ids, s.ExecutionID)
		}
	}
	enc := json.NewEncoder(w)
	bar := &progress{w: stderr, label: "exporting"}
	defer bar.done()
	if t.dataDir != "" {
		st, err := openDataDir(t.dataDir)
		if err != nil {
			return 0, err
		}
		defer st.Close()
		for i, id := range ids {
			rec, err := st.Export(ctx, id)
			if err != nil {
				return i, fmt.Errorf("export %s: %w", id, err)
			}
			if err := enc.Encode(rec); err != nil {
				return i, err
			}
			bar.update(i+1, len(ids))
		}
		return len(ids), nil
	}
	s, err := t.dial(ctx)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	for i, id := range ids {
		rec, err := exportRemote(s, id)
		if err != nil {
			return i, fmt.Errorf("export %s: %w", id, err)
		}
		if err := enc.Encode(rec); err != nil {
			return i, err
		}
		bar.update(i+1, len(ids))
	}
	return len(ids), nil
}

// exportRemote builds a record from execution.get and execution.replay.
// Each replayed event is written back without its replay mark, which gives
// the bytes the server stores (one JSON encoding of events.Event). Pending
// signals are not visible over the socket, so they are not exported this
// way (--data-dir exports them).
func exportRemote(s *sock, id string) (persistence.Record, error) {
	var snap actors.Snapshot
	if err := s.call("execution.get", map[string]string{"execution_id": id}, &snap); err != nil {
		return persistence.Record{}, err
	}
	rec := persistence.Record{Version: persistence.ExportVersion, Execution: executionOf(snap, s.info.Workspace),
		Steps: nonNil(snap.Steps), Events: []json.RawMessage{}}
	rec.Execution.LastSeq = 0
	err := s.stream("execution.replay", map[string]any{"execution_id": id, "speed": 0}, func(f sockFrame) error {
		if f.Type == "" {
			return nil
		}
		var data events.Data
		if err := json.Unmarshal(f.Data, &data); err != nil {
			return err
		}
		data.Replay = false
		raw, err := json.Marshal(events.Event{Type: events.Type(f.Type), Data: data})
		if err != nil {
			return err
		}
		rec.Events = append(rec.Events, raw)
		return nil
	})
	return rec, err
}

func importCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("weft import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var t target
	t.register(fs, true, false)
	return &ffcli.Command{
		Name: "import", FlagSet: fs, Options: envOptions(),
		ShortUsage: "weft import FILE.jsonl --data-dir D",
		ShortHelp:  "Store the executions of an export file into a data dir (the server on it must be stopped).",
		LongHelp: "Executions already present (same id) are skipped and counted. An execution that had not ended\n" +
			"is resumed by the next server that opens the data dir.",
		Exec: func(ctx context.Context, args []string) error {
			args, err := interspersed(fs, args)
			if err != nil {
				return err
			}
			if err := needArgs(args, 1, "weft import FILE.jsonl --data-dir D"); err != nil {
				return err
			}
			if t.dataDir == "" {
				return usageError{"import needs --data-dir (the target server must be stopped: imports write the store directly)"}
			}
			st, err := openOrCreateDataDir(t.dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			bar := &progress{w: stderr, label: "importing"}
			imported, skipped := 0, 0
			err = readRecords(args[0], func(rec persistence.Record) error {
				err := st.Import(ctx, rec)
				switch {
				case errors.Is(err, persistence.ErrExists):
					skipped++
				case err != nil:
					return err
				default:
					imported++
				}
				bar.update(imported+skipped, 0)
				return nil
			})
			bar.done()
			fmt.Fprintf(stdout, "imported %d executions, skipped %d already present\n", imported, skipped)
			return err
		},
	}
}
