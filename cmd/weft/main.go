// Command weft runs the weft server (`weft serve`), loads one (`weft
// bench`), and operates one: executions, tail, start, cancel, signal,
// replay, replay-check, rerun, export, import, schedules and workflows, over the
// socket with a token or (for reads) straight from a stopped server's data
// dir.
//
// Every flag also reads WEFT_<FLAG> from the environment (upper case, "-"
// as "_"); a flag given on the command line wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/peterbourgon/ff/v3"
	"github.com/peterbourgon/ff/v3/ffcli"
)

// Exit codes of PROTOCOL.md section 10.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := rootCommand(stdout, stderr)
	if err := root.Parse(flagsFirst(root, args)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintln(stderr, "weft:", err)
		return exitUsage
	}
	if err := root.Run(ctx); err != nil {
		var usage usageError
		if errors.As(err, &usage) {
			fmt.Fprintln(stderr, "weft:", err)
			return exitUsage
		}
		fmt.Fprintln(stderr, "weft:", err)
		return exitFailed
	}
	return exitOK
}

// usageError marks a command line that is wrong (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func rootCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("weft", flag.ContinueOnError)
	fs.SetOutput(stderr)
	showVersion := fs.Bool("version", false, "print the version and exit")
	var root *ffcli.Command
	root = &ffcli.Command{
		Name:       "weft",
		ShortUsage: "weft <command> [flags]",
		ShortHelp:  "weft runs Go workflows that apps drive over one WebSocket.",
		LongHelp:   rootLongHelp,
		FlagSet:    fs,
		Subcommands: []*ffcli.Command{
			serveCommand(stdout, stderr),
			clusterCommand(stdout, stderr),
			benchCommand(stdout, stderr),
			schedulesCommand(stdout, stderr),
			executionsCommand(stdout, stderr),
			tailCommand(stdout, stderr),
			startCommand(stdout, stderr),
			cancelCommand(stdout, stderr),
			signalCommand(stdout, stderr),
			replayCommand(stdout, stderr),
			replayCheckCommand(stdout, stderr),
			rerunCommand(stdout, stderr),
			exportCommand(stdout, stderr),
			importCommand(stdout, stderr),
			compactCommand(stdout, stderr),
			artifactsCommand(stdout, stderr),
			auditCommand(stdout, stderr),
			workflowsCommand(stdout, stderr),
			versionCommand(stdout, stderr),
		},
		Exec: func(_ context.Context, args []string) error {
			switch {
			case *showVersion:
				fmt.Fprintln(stdout, "weft", version)
				return nil
			case len(args) == 0:
				fmt.Fprint(stdout, usageOf(root))
				return nil
			}
			return unknownCommand(root, args[0])
		},
	}
	root.Subcommands = append(root.Subcommands, helpCommand(root, stdout, stderr))
	return root
}

func versionCommand(stdout, stderr io.Writer) *ffcli.Command {
	return newLeaf(newFlags("weft version", stderr), leaf{
		name: "version", usage: "weft version", help: "Print the version.", args: exactly(0),
		run: func(context.Context, []string) error {
			fmt.Fprintln(stdout, "weft", version)
			return nil
		},
	})
}

// envOptions make every flag readable from WEFT_<FLAG>.
func envOptions() []ff.Option {
	return []ff.Option{ff.WithEnvVarPrefix("WEFT")}
}
