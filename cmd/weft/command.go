package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
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
// ffcli would parse a command's flags only up to its first positional
// argument (Go's flag package stops there) and would eat a "--"; so run
// hands each leaf its arguments untouched (verbatim) and the leaf parses
// them itself (parseArgs).

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

// newLeaf builds the command l over its flag set fs.
func newLeaf(fs *flag.FlagSet, l leaf) *ffcli.Command {
	return &ffcli.Command{
		Name: l.name, ShortUsage: l.usage, ShortHelp: l.help, LongHelp: l.long,
		FlagSet: fs, Options: envOptions(),
		Exec: func(ctx context.Context, args []string) error {
			pos, err := parseArgs(fs, args)
			if errors.Is(err, flag.ErrHelp) {
				return nil // -h: the flag package has printed the usage
			}
			if err != nil {
				return err
			}
			if !l.args.ok(len(pos)) {
				return usageError{"usage: " + l.usage}
			}
			return l.run(ctx, pos)
		},
	}
}

// parseArgs parses the flags among args, wherever they are, and returns the
// positional arguments in order. "--" ends the flags; "-" alone is a
// positional argument (stdin). A flag that takes a value takes the next
// argument when it has no "=value", as with the flag package.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
			continue
		case len(a) < 2 || a[0] != '-':
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") || i+1 == len(args) {
			continue
		}
		if f := fs.Lookup(name); f != nil && !isBoolFlag(f) {
			i++
			flags = append(flags, args[i])
		}
	}
	if err := fs.Parse(flags); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err.Error()}
	}
	if extra := fs.Args(); len(extra) > 0 { // never expected: flags holds only flags
		return nil, usageError{fmt.Sprintf("unexpected %q", extra)}
	}
	return pos, nil
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// verbatim puts "--" after the name of the leaf command args select, so
// that ffcli passes the leaf's arguments to it untouched (see newLeaf).
// Arguments that select no leaf (a group, the root's own flags, an unknown
// command) are returned as they are.
func verbatim(root *ffcli.Command, args []string) []string {
	cmd := root
	for i, a := range args {
		next := findCommand(cmd.Subcommands, a)
		if next == nil {
			if cmd != root && len(cmd.Subcommands) == 0 {
				return append(append(append([]string{}, args[:i]...), "--"), args[i:]...)
			}
			return args
		}
		cmd = next
	}
	return args
}
