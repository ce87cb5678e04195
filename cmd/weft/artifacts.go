package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/weft-run/weft/client"
)

// `weft artifacts put|get|rm|ls`: the artifact routes of the HTTP plane
// (PROTOCOL.md section 8) through the Go client, with the client commands'
// --server and --token.

func artifactsFlags(name string, stderr io.Writer, listing bool) (*flag.FlagSet, *target) {
	fs := newFlags("weft artifacts "+name, stderr)
	var t target
	t.register(fs, false, listing)
	t.needs(fs, "executions:read to get and list, artifacts:write to put and rm")
	return fs, &t
}

func artifactsCommand(stdout, stderr io.Writer) *ffcli.Command {
	return newGroup("artifacts", "Upload, download, delete and list artifacts (blobs workflows read and create).",
		artifactsPut(stdout, stderr), artifactsGet(stdout, stderr),
		artifactsRm(stdout, stderr), artifactsLs(stdout, stderr))
}

func artifactsPut(stdout, stderr io.Writer) *ffcli.Command {
	fs, t := artifactsFlags("put", stderr, true)
	name := fs.String("name", "", "the artifact's name (default: the file's base name)")
	contentType := fs.String("content-type", "", "its Content-Type (default: from the file's extension, else application/octet-stream)")
	const usage = "weft artifacts put FILE|- [--name N] [--content-type T] [--json]"
	return newLeaf(fs, leaf{
		name: "put", usage: usage, args: exactly(1),
		help: "Upload a file (- : stdin), streamed; prints the new artifact's id.",
		run: func(ctx context.Context, pos []string) error {
			var in io.Reader = os.Stdin
			if pos[0] != "-" {
				f, err := os.Open(pos[0])
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
				if *name == "" {
					*name = filepath.Base(pos[0])
				}
				if *contentType == "" {
					*contentType = mime.TypeByExtension(filepath.Ext(pos[0]))
				}
			}
			c, err := t.connect(ctx)
			if err != nil {
				return err
			}
			defer c.Close(context.Background())
			m, err := c.PutArtifact(ctx, *name, *contentType, in)
			if err != nil {
				return err
			}
			if t.json {
				return writeJSON(stdout, m)
			}
			fmt.Fprintln(stdout, m.ArtifactID)
			fmt.Fprintf(stderr, "uploaded %s: %d bytes, sha256 %s\n", m.Name, m.Size, m.SHA256)
			return nil
		},
	})
}

func artifactsGet(stdout, stderr io.Writer) *ffcli.Command {
	fs, t := artifactsFlags("get", stderr, false)
	out := fs.String("o", "", "write to this file instead of stdout")
	const usage = "weft artifacts get ID [-o FILE]"
	return newLeaf(fs, leaf{
		name: "get", usage: usage, args: exactly(1),
		help: "Download an artifact's bytes.",
		run: func(ctx context.Context, pos []string) error {
			c, err := t.connect(ctx)
			if err != nil {
				return err
			}
			defer c.Close(context.Background())
			rc, m, err := c.GetArtifact(ctx, pos[0])
			if err != nil {
				return err
			}
			defer rc.Close()
			if *out == "" {
				_, err = io.Copy(stdout, rc)
				return err
			}
			// A partial download never takes the file's name.
			tmp, err := os.CreateTemp(filepath.Dir(*out), ".weft-artifact-*")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			n, err := io.Copy(tmp, rc)
			if cerr := tmp.Close(); err == nil {
				err = cerr
			}
			if err == nil && m.Size > 0 && n != m.Size {
				err = fmt.Errorf("download of %s ended after %d of %d bytes", pos[0], n, m.Size)
			}
			if err == nil {
				err = os.Rename(tmp.Name(), *out)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "wrote %s (%s): %d bytes\n", *out, m.Name, n)
			return nil
		},
	})
}

func artifactsRm(stdout, stderr io.Writer) *ffcli.Command {
	fs, t := artifactsFlags("rm", stderr, false)
	const usage = "weft artifacts rm ID..."
	return newLeaf(fs, leaf{
		name: "rm", usage: usage, args: atLeast(1),
		help: "Delete artifacts (their bytes go when no other artifact shares them).",
		run: func(ctx context.Context, pos []string) error {
			c, err := t.connect(ctx)
			if err != nil {
				return err
			}
			defer c.Close(context.Background())
			for _, id := range pos {
				if err := c.DeleteArtifact(ctx, id); err != nil {
					return fmt.Errorf("%s: %w", id, err)
				}
				fmt.Fprintln(stdout, "deleted", id)
			}
			return nil
		},
	})
}

func artifactsLs(stdout, stderr io.Writer) *ffcli.Command {
	fs, t := artifactsFlags("ls", stderr, true)
	return newLeaf(fs, leaf{
		name: "ls", usage: "weft artifacts ls [--json]", args: exactly(0),
		help: "List the workspace's artifacts, newest first.",
		run: func(ctx context.Context, _ []string) error {
			c, err := t.connect(ctx)
			if err != nil {
				return err
			}
			defer c.Close(context.Background())
			list, err := c.ListArtifacts(ctx)
			if err != nil {
				return err
			}
			if t.json {
				if list == nil {
					list = []client.ArtifactMeta{}
				}
				return writeJSON(stdout, list)
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tSIZE\tSHA256\tCONTENT TYPE\tCREATED\tEXECUTION")
			for _, a := range list {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", a.ArtifactID, a.Name, a.Size, a.SHA256[:min(12, len(a.SHA256))],
					orDash(a.ContentType), a.CreatedAt.Local().Format(time.DateTime), orDash(a.ExecutionID))
			}
			return tw.Flush()
		},
	})
}
