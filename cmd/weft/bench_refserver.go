package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/weft-run/weft/load/refserver"
)

// benchRefserver is `weft bench refserver`: the reference broadcast server
// (package load/refserver) that `weft bench broadcast` compares weft to.
// It prints "refserver listening on http://ADDR" and serves until
// interrupted.
func benchRefserver(stdout, stderr io.Writer) *ffcli.Command {
	fs := newFlags("weft bench refserver", stderr)
	addr := fs.String("addr", "127.0.0.1:0", "loopback address to listen on (port 0: any free port)")
	mode := fs.String("mode", string(refserver.Inline), "how a broadcast writes to members: inline (the broadcaster writes each) or writer (a writer goroutine and queue per connection)")
	queue := fs.Int("queue-frames", 256, "writer mode: frames queued per connection before it is closed as slow")
	workers := fs.Int("workers", 0, "inline mode: goroutines a fan-out to 256 members or more is split over (0: GOMAXPROCS)")
	writeTimeout := fs.Duration("write-timeout", 10*time.Second, "deadline of a fan-out (inline) or a frame (writer)")
	return newLeaf(fs, leaf{
		name: "refserver", usage: "weft bench refserver [flags]", args: exactly(0),
		help: "Run the reference broadcast server (bare gorilla) that broadcast results are compared to.",
		run: func(ctx context.Context, _ []string) error {
			m := refserver.Mode(*mode)
			if m != refserver.Inline && m != refserver.Writer {
				return usageError{fmt.Sprintf("--mode %q: want inline or writer", *mode)}
			}
			ln, err := refserver.Listen(*addr)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%shttp://%s\n", refserverBanner, ln.Addr())
			return refserver.New(refserver.Options{Mode: m, QueueFrames: *queue, WriteTimeout: *writeTimeout, Workers: *workers}).Serve(ctx, ln)
		},
	})
}

// refserverBanner starts the line that gives the reference server's URL.
const refserverBanner = "refserver listening on "
