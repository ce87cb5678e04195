package main

// The parts of the command line that guide an operator (issue 18): help,
// the version, the token of a local data dir when none is given, and what
// to do when no server answers.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/peterbourgon/ff/v3/ffcli"
)

// localKeysFile is where `weft serve` with its default --data-dir keeps
// its keys: client commands run from the same directory use its first
// admin token when no token is given.
var localKeysFile = filepath.Join("weft-data", "keys.json")

// rootLongHelp follows the usage line of `weft` and `weft help`.
const rootLongHelp = `Run "weft help COMMAND" for a command's flags. Flags may come before, between or
after the arguments; "--" ends them. Every flag also reads WEFT_<FLAG> from the
environment (WEFT_SERVER, WEFT_TOKEN, ...); a flag given wins. --server takes
http://host:port, https://..., ws://host:port/api/v1/socket or host:port. Exit
codes: 0 done, 1 the operation failed, 2 a wrong command line.`

// helpCommand prints the usage of weft or of one (sub)command.
func helpCommand(root *ffcli.Command, stdout, stderr io.Writer) *ffcli.Command {
	return newLeaf(newFlags("weft help", stderr), leaf{
		name: "help", usage: "weft help [COMMAND [SUBCOMMAND]]",
		help: "Print the commands, or one command's usage and flags.", args: anyArgs(),
		run: func(_ context.Context, args []string) error {
			cmd := root
			for i, name := range args {
				next := findCommand(cmd.Subcommands, name)
				if next == nil {
					return unknownCommand(cmd, strings.Join(args[:i+1], " "))
				}
				cmd = next
			}
			fmt.Fprint(stdout, usageOf(cmd))
			return nil
		},
	})
}

// findCommand is the command of cmds named name (in any case, as ffcli
// matches them).
func findCommand(cmds []*ffcli.Command, name string) *ffcli.Command {
	for _, c := range cmds {
		if strings.EqualFold(c.Name, name) {
			return c
		}
	}
	return nil
}

// usageOf is ffcli's usage text of c (flags included).
func usageOf(c *ffcli.Command) string {
	if c.FlagSet == nil { // a group (schedules, executions): ffcli counts its flags
		group := *c
		group.FlagSet = flag.NewFlagSet(c.Name, flag.ContinueOnError)
		c = &group
	}
	if c.UsageFunc != nil {
		return c.UsageFunc(c)
	}
	return ffcli.DefaultUsageFunc(c)
}

// unknownCommand is the usage error of a command name weft does not have:
// the name, then the commands it does have.
func unknownCommand(parent *ffcli.Command, name string) error {
	return usageError{fmt.Sprintf("unknown command %s\n\n%s", name, usageOf(parent))}
}

// defaultToken is token, or when it is empty the first admin token of
// ./weft-data/keys.json (saying so on w). Empty when neither is there.
func defaultToken(token string, w io.Writer) string {
	if token != "" {
		return token
	}
	if token, err := firstAdminToken(localKeysFile); err == nil && token != "" {
		fmt.Fprintf(w, "weft: no --token or WEFT_TOKEN given: using the first admin token of %s\n", localKeysFile)
		return token
	}
	return ""
}

// firstAdminToken is the first token with the admin scope in the keys
// file at path ("" when there is none).
func firstAdminToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("keys file: %w", err)
	}
	var doc struct {
		Keys []struct {
			Token  string   `json:"token"`
			Scopes []string `json:"scopes"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return "", fmt.Errorf("keys file %s: %w", path, err)
	}
	for _, k := range doc.Keys {
		if k.Token != "" && slices.Contains(k.Scopes, "admin") {
			return k.Token, nil
		}
	}
	return "", nil
}

// errNoToken is the usage error of a client command without a token.
var errNoToken = usageError{"--token (or WEFT_TOKEN) is required to talk to a server (or run weft from the directory holding " + localKeysFile + ")"}

// explainDial turns a refused connection into a sentence that names the
// address tried and how to choose another; other errors pass unchanged.
func explainDial(server string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(err.Error(), "connection refused") {
		return fmt.Errorf("no weft server answers at %s (connection refused): start one with `weft serve`, or point at another with --server or WEFT_SERVER", server)
	}
	return err
}
