package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/client"
	"github.com/weft-run/weft/persistence"
)

// The portable format is JSON lines: one persistence.Record per line
// (version, execution record with last_seq, step checkpoints, pending
// signals, the event log as stored). It is what export writes, import
// reads, and replay-check --file checks. Over --server both use the admin
// routes GET /api/v1/executions/{id}/export and POST /api/v1/import, so an
// export is the same bytes whether it reads a data dir or a server.

func exportCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := newFlags("weft export", stderr)
	var t target
	t.register(fs, true, false)
	var f lsFilter
	f.register(fs, 0)
	out := fs.String("o", "", "write to this file instead of stdout")
	return newLeaf(fs, leaf{
		name: "export", args: anyArgs(),
		usage: "weft export [ID...] [--workflow W] [--status S] [--since D] [--data-dir D | --server URL] [-o file.jsonl]",
		help:  "Write executions (record, steps, events) as portable JSON lines.",
		run: func(ctx context.Context, ids []string) error {
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
	})
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
	api, err := newAPIClient(t)
	if err != nil {
		return 0, err
	}
	for i, id := range ids {
		var rec persistence.Record
		if err := api.do(ctx, "GET", "/api/v1/executions/"+url.PathEscape(id)+"/export", nil, &rec); err != nil {
			return i, fmt.Errorf("export %s: %w", id, err)
		}
		if err := enc.Encode(rec); err != nil {
			return i, err
		}
		bar.update(i+1, len(ids))
	}
	return len(ids), nil
}

// apiClient calls the HTTP plane of --server with the token (the export
// and import routes, which are admin only).
type apiClient struct {
	base, token string
	http        *http.Client
}

func newAPIClient(t *target) (*apiClient, error) {
	addr, err := t.resolve()
	if err != nil {
		return nil, err
	}
	return &apiClient{base: addr.HTTP(), token: t.token, http: &http.Client{}}, nil
}

// do sends body (nil: none) and decodes a 2xx answer into out; an error
// answer is a *client.Error (exit 1).
func (c *apiClient) do(ctx context.Context, method, path string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", userAgent())
	if body != nil {
		req.Header.Set("Content-Type", "application/x-ndjson")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return explainDial(c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error *client.Error `json:"error"`
		}
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(raw, &e) == nil && e.Error != nil {
			return e.Error
		}
		return fmt.Errorf("%s %s: HTTP %s", method, path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func importCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := newFlags("weft import", stderr)
	var t target
	t.register(fs, true, false)
	return newLeaf(fs, leaf{
		name: "import", usage: "weft import FILE.jsonl [--server URL | --data-dir D]", args: exactly(1),
		help: "Store the executions of an export file into a running server (admin token) or a stopped server's data dir.",
		long: "Importing is idempotent: an execution already stored with the same history is skipped and\n" +
			"counted; one stored with another history stops the import with an error naming its line.\n" +
			"Over --server (POST /api/v1/import, admin token, records of the token's workspace only) an\n" +
			"execution that had not ended resumes at once; in a --data-dir it resumes when a server next\n" +
			"opens the dir (which must not be in use).",
		run: func(ctx context.Context, args []string) error {
			var res actors.ImportResult
			var err error
			if t.dataDir != "" {
				res, err = importDataDir(ctx, t.dataDir, args[0], stderr)
			} else {
				res, err = importServer(ctx, &t, args[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "imported %d executions, skipped %d already present\n", res.Imported, res.Skipped)
			return nil
		},
	})
}

// importServer streams the file to POST /api/v1/import.
func importServer(ctx context.Context, t *target, path string) (actors.ImportResult, error) {
	var res actors.ImportResult
	api, err := newAPIClient(t)
	if err != nil {
		return res, err
	}
	f, err := os.Open(path)
	if err != nil {
		return res, err
	}
	defer f.Close()
	if err := api.do(ctx, "POST", "/api/v1/import", f, &res); err != nil {
		return res, fmt.Errorf("%s: %w", path, err)
	}
	return res, nil
}

// importDataDir writes the file's records into a stopped server's store,
// with the same rules as the server's import (but no workspace check: the
// operator holds the whole data dir).
func importDataDir(ctx context.Context, dir, path string, stderr io.Writer) (actors.ImportResult, error) {
	var res actors.ImportResult
	f, err := os.Open(path)
	if err != nil {
		return res, err
	}
	defer f.Close()
	st, err := openOrCreateDataDir(dir)
	if err != nil {
		return res, err
	}
	defer st.Close()
	bar := &progress{w: stderr, label: "importing"}
	defer bar.done()
	err = persistence.ReadRecords(f, func(line int, rec persistence.Record) error {
		err := st.Import(ctx, rec)
		switch {
		case errors.Is(err, persistence.ErrExists):
			res.Skipped++
		case errors.Is(err, persistence.ErrImportConflict):
			return fmt.Errorf("line %d (%s): already stored with another history (%d imported and %d skipped before it)",
				line, rec.Execution.ID, res.Imported, res.Skipped)
		case err != nil:
			return fmt.Errorf("line %d (%s): %w (%d imported and %d skipped before it)", line, rec.Execution.ID, err, res.Imported, res.Skipped)
		default:
			res.Imported++
		}
		bar.update(res.Imported+res.Skipped, 0)
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("%s: %w", path, err)
	}
	return res, nil
}
