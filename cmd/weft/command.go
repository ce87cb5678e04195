package main

import (
	"context"
	"flag"
	"io"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"
)

// Every command without subcommands is built by newLeaf: its flags may
// come before, between or after its positional arguments ("weft replay ID
// --speed 1", "weft schedules create --every 1h nap --params '{}'"), "--"
// ends the flags, every flag also reads WEFT_<FLAG>, and a wrong flag or
// argument count is a usage error (exit 2).
//
// ffcli parses a command's flags with Go's flag package, which stops at
// the first positional argument. So run first moves the leaf's flags
// ahead of its positional arguments, which follow a "--" (flagsFirst):
// ffcli then parses every flag before the leaf runs (so a wrapper of its
// Exec, like serve's tracing, sees them set) and hands the leaf exactly
// its positional arguments.

// nargs is how many positional arguments a command takes.
type nargs struct{ min, max int } // max < 0: no upper bound

func exactly(n int) nargs    { return nargs{n, n} }
func between(a, b int) nargs { return nargs{a, b} }
func atLeast(n int) nargs    { return nargs{n, -1} }
func anyArgs() nargs         { return nargs{0, -1} }

func (n nargs) ok(got int) bool { return got >= n.min && (n.max < 0 || got <= n.max) }

// leaf describes a command without subcommands.
type leaf struct {
	name  string // as typed: "ls"
	usage string // the ShortUsage line, also the usage error's text
	help  string // one line for the parent's list
	long  string // optional paragraph for weft help CMD
	args  nargs
	run   func(ctx context.Context, args []string) error
}

// newFlags is a command's flag set: errors and usage go to stderr.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// newGroup builds a command that only holds subcommands (weft executions
// ls|show|rm): its usage line lists them, and run alone it is a usage
// error that names them.
func newGroup(name, help string, subs ...*ffcli.Command) *ffcli.Command {
	names := make([]string, len(subs))
	for i, c := range subs {
		names[i] = c.Name
	}
	list := names[0]
	if n := len(names); n > 1 {
		list = strings.Join(names[:n-1], ", ") + " or " + names[n-1]
	}
	return &ffcli.Command{
		Name:        name,
		ShortUsage:  "weft " + name + " <" + strings.Join(names, "|") + "> [flags]",
		ShortHelp:   help,
		Subcommands: subs,
		Exec: func(context.Context, []string) error {
			return usageError{name + " needs a subcommand: " + list}
		},
	}
}

// newLeaf builds the command l over its flag set fs.
func newLeaf(fs *flag.FlagSet, l leaf) *ffcli.Command {
	return &ffcli.Command{
		Name: l.name, ShortUsage: l.usage, ShortHelp: l.help, LongHelp: l.long,
		FlagSet: fs, Options: envOptions(),
		Exec: func(ctx context.Context, args []string) error {
			if !l.args.ok(len(args)) {
				return usageError{"usage: " + l.usage}
			}
			return l.run(ctx, args)
		},
	}
}

// splitArgs separates a leaf's arguments into its flags (with their
// values) and its positional arguments, each in order. "--" ends the
// flags; "-" alone is a positional argument (stdin). A flag that takes a
// value takes the next argument when it has no "=value", as the flag
// package does; an unknown flag is left for the flag package to refuse.
// dangling says that the last argument is a flag that lacks its value.
func splitArgs(fs *flag.FlagSet, args []string) (flags, pos []string, dangling bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return flags, append(pos, args[i+1:]...), false
		case len(a) < 2 || a[0] != '-':
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		f := fs.Lookup(name)
		if strings.Contains(name, "=") || f == nil || isBoolFlag(f) {
			continue
		}
		if i+1 == len(args) {
			return flags, pos, true
		}
		i++
		flags = append(flags, args[i])
	}
	return flags, pos, false
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// flagsFirst rewrites a command line so that the flags of the leaf it
// selects come right after the leaf's name and its positional arguments
// after a "--" (see newLeaf). A command line that selects no leaf (a
// group, the root's own flags, an unknown command) is returned as it is.
func flagsFirst(root *ffcli.Command, args []string) []string {
	cmd := root
	for i, a := range args {
		next := findCommand(cmd.Subcommands, a)
		if next == nil {
			if cmd == root || len(cmd.Subcommands) > 0 {
				return args
			}
			flags, pos, dangling := splitArgs(cmd.FlagSet, args[i:])
			out := append(append([]string{}, args[:i]...), flags...)
			if dangling { // last, so that the flag package says it lacks its value
				return out
			}
			return append(append(out, "--"), pos...)
		}
		cmd = next
	}
	return args
}
