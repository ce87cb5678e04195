//go:build unix

package weft_test

import (
	"bufio"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// This file reads a README into what readme_test.go runs: its fenced code
// blocks with the marker before each, a shell block's commands with the
// output shown under them, and output patterns.

// block is one fenced code block of a Markdown file.
type block struct {
	file   string
	line   int    // of the opening fence, 1-based
	lang   string // the fence's info string: sh, go, js, json, ...
	text   string // the lines between the fences, each ending in \n
	notRun string // the reason of a <!-- not-run: reason --> before it
	output bool   // <!-- output --> before it: what the block above printed
}

func (b block) String() string { return fmt.Sprintf("%s:%d (```%s)", b.file, b.line, b.lang) }

var (
	fenceRE  = regexp.MustCompile("^(```+|~~~+)[ \t]*([^ \t`]*)")
	notRunRE = regexp.MustCompile(`^<!--\s*not-run:\s*(.*?)\s*-->$`)
	outputRE = regexp.MustCompile(`^<!--\s*output\s*-->$`)
)

// parseBlocks returns the fenced code blocks of a Markdown file. A marker
// is an HTML comment on its own line before a block, blank lines between
// allowed: <!-- not-run: why --> (the reason must say why) or
// <!-- output -->. A marker with no block after it, or an unclosed fence,
// is an error.
func parseBlocks(file, md string) ([]block, error) {
	var (
		blocks  []block
		cur     *block
		fence   string
		pending string // the last marker line, until a block or a text line
		pendAt  int
	)
	sc := bufio.NewScanner(strings.NewReader(md))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if cur != nil {
			if strings.HasPrefix(strings.TrimSpace(line), fence) && strings.Trim(strings.TrimSpace(line), fence[:1]) == "" {
				blocks = append(blocks, *cur)
				cur = nil
				continue
			}
			cur.text += line + "\n"
			continue
		}
		trimmed := strings.TrimSpace(line)
		if m := fenceRE.FindStringSubmatch(trimmed); m != nil {
			cur = &block{file: file, line: n, lang: m[2]}
			fence = m[1]
			if err := applyMarker(cur, pending); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", file, pendAt, err)
			}
			pending = ""
			continue
		}
		switch {
		case notRunRE.MatchString(trimmed) || outputRE.MatchString(trimmed):
			if pending != "" {
				return nil, fmt.Errorf("%s:%d: two markers before one block", file, n)
			}
			pending, pendAt = trimmed, n
		case trimmed == "":
		case pending != "":
			return nil, fmt.Errorf("%s:%d: the marker %s is not followed by a code block", file, pendAt, pending)
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: the code block is never closed", file, cur.line)
	}
	if pending != "" {
		return nil, fmt.Errorf("%s:%d: the marker %s is not followed by a code block", file, pendAt, pending)
	}
	return blocks, sc.Err()
}

func applyMarker(b *block, marker string) error {
	if m := notRunRE.FindStringSubmatch(marker); m != nil {
		if m[1] == "" {
			return fmt.Errorf("<!-- not-run: --> needs a reason")
		}
		b.notRun = m[1]
	}
	b.output = outputRE.MatchString(marker)
	return nil
}

// command is one command of a shell block, with the output the README
// shows for it.
type command struct {
	line int    // in the block, 1-based
	text string // continuation lines joined as the shell joins them
	want []string
}

// parseCommands splits a shell block into commands. A command's lines end
// in a backslash until its last; comment lines directly under a command
// (no blank line between) are its output, as README shows it; other
// comment lines and blank lines are prose.
func parseCommands(text string) []command {
	var (
		cmds []command
		cont bool // the previous line ended in a backslash
		last = -1 // the command the next comment line belongs to, or -1
	)
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case cont:
			cmds[len(cmds)-1].text += "\n" + line
		case trimmed == "":
			last = -1
		case strings.HasPrefix(trimmed, "#"):
			if last >= 0 {
				out := strings.TrimPrefix(strings.TrimPrefix(trimmed, "#"), " ")
				cmds[last].want = append(cmds[last].want, out)
			}
		default:
			cmds = append(cmds, command{line: i + 1, text: line})
			last = len(cmds) - 1
		}
		cont = !strings.HasPrefix(trimmed, "#") && strings.HasSuffix(line, "\\")
	}
	return cmds
}

// matchOutput checks that got holds the wanted lines in order (others may
// come between and after). In a wanted line, "..." stands for any text, a
// line of only "..." for any lines, and spaces at either end do not count.
// It returns the first wanted line it could not find, or "".
func matchOutput(want []string, got string) string {
	lines := strings.Split(got, "\n")
	i := 0
	for _, w := range want {
		w = strings.TrimSpace(w)
		if w == "..." {
			continue
		}
		re := outputPattern(w)
		for i < len(lines) && !re.MatchString(strings.TrimSpace(lines[i])) {
			i++
		}
		if i == len(lines) {
			return w
		}
		i++
	}
	return ""
}

func outputPattern(w string) *regexp.Regexp {
	parts := strings.Split(w, "...")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}

// placeholderRE finds the ids a README writes as prefix_... (exec_...,
// art_..., sched_..., ws_...): stand-ins for ids printed earlier.
var placeholderRE = regexp.MustCompile(`\b([a-z]+_)\.\.\.`)

// ids remembers, per id prefix, the id a placeholder stands for: the first
// id of that prefix in the output of the latest command that printed one.
// A listing prints the newest first; a start prints the id it started.
type ids map[string]string

var idRE = regexp.MustCompile(`\b([a-z]+_)([0-9a-z]{20,})\b`)

func (m ids) learn(output string) {
	seen := map[string]bool{}
	for _, s := range idRE.FindAllStringSubmatch(output, -1) {
		if !seen[s[1]] {
			seen[s[1]] = true
			m[s[1]] = s[1] + s[2]
		}
	}
}

// fill replaces the placeholders of text; it names the first it could not.
func (m ids) fill(text string) (string, error) {
	var missing string
	out := placeholderRE.ReplaceAllStringFunc(text, func(p string) string {
		prefix := strings.TrimSuffix(p, "...")
		if id, ok := m[prefix]; ok {
			return id
		}
		if missing == "" {
			missing = p
		}
		return p
	})
	if missing != "" {
		return "", fmt.Errorf("%s stands for an id, but nothing printed a %s id before", missing, strings.TrimSuffix(missing, "..."))
	}
	return out, nil
}

// regions reads the Go a README shows from a compiled file: the lines
// between "// readme:NAME" and "// readme:end", without their common
// indentation. A region may come in several segments (a README block can
// mix declarations and statements, which no one place in Go can hold);
// they are joined with an empty line between.
func regions(src string) (map[string]string, error) {
	out := map[string]string{}
	var (
		name string
		seg  []string
	)
	for n, line := range strings.Split(src, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case t == "// readme:end":
			if name == "" {
				return nil, fmt.Errorf("line %d: // readme:end with no region open", n+1)
			}
			if out[name] != "" {
				out[name] += "\n"
			}
			out[name] += dedent(seg)
			name, seg = "", nil
		case strings.HasPrefix(t, "// readme:"):
			if name != "" {
				return nil, fmt.Errorf("line %d: region %s opened inside %s", n+1, t, name)
			}
			name = strings.TrimPrefix(t, "// readme:")
		case name != "":
			seg = append(seg, line)
		}
	}
	if name != "" {
		return nil, fmt.Errorf("region %s is never closed", name)
	}
	return out, nil
}

// dedent removes the leading tabs all non-empty lines share, and empty
// lines at either end; each line ends in \n.
func dedent(lines []string) string {
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	indent := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, "\t"))
		if indent < 0 || n < indent {
			indent = n
		}
	}
	var b strings.Builder
	for _, l := range lines {
		if len(l) >= indent && indent > 0 {
			l = l[indent:]
		}
		b.WriteString(strings.TrimRight(l, " \t") + "\n")
	}
	return b.String()
}

func TestParseBlocks(t *testing.T) {
	for _, c := range []struct {
		name, md string
		want     []block
		err      string
	}{
		{name: "one block", md: "text\n```sh\necho hi\n```\n",
			want: []block{{file: "R", line: 2, lang: "sh", text: "echo hi\n"}}},
		{name: "not-run with a blank line before the fence", md: "<!-- not-run: a server -->\n\n```sh\nmake run\n```\n",
			want: []block{{file: "R", line: 3, lang: "sh", text: "make run\n", notRun: "a server"}}},
		{name: "output", md: "```json\n{}\n```\n<!-- output -->\n```json\n{\"a\":1}\n```\n",
			want: []block{{file: "R", line: 1, lang: "json", text: "{}\n"}, {file: "R", line: 5, lang: "json", text: "{\"a\":1}\n", output: true}}},
		{name: "a longer fence holds a shorter one", md: "````md\n```sh\nx\n```\n````\n",
			want: []block{{file: "R", line: 1, lang: "md", text: "```sh\nx\n```\n"}}},
		{name: "tildes", md: "~~~go\nx := 1\n~~~\n",
			want: []block{{file: "R", line: 1, lang: "go", text: "x := 1\n"}}},
		{name: "no language", md: "```\nplain\n```\n",
			want: []block{{file: "R", line: 1, lang: "", text: "plain\n"}}},
		{name: "other comments are prose", md: "<!-- a note -->\n```sh\nx\n```\n",
			want: []block{{file: "R", line: 2, lang: "sh", text: "x\n"}}},
		{name: "not-run without a reason", md: "<!-- not-run: -->\n```sh\nx\n```\n", err: "needs a reason"},
		{name: "marker before prose", md: "<!-- not-run: why -->\ntext\n```sh\nx\n```\n", err: "not followed by a code block"},
		{name: "marker at the end", md: "```sh\nx\n```\n<!-- output -->\n", err: "not followed by a code block"},
		{name: "two markers", md: "<!-- output -->\n<!-- not-run: why -->\n```sh\nx\n```\n", err: "two markers"},
		{name: "unclosed", md: "```sh\nx\n", err: "never closed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseBlocks("R", c.md)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %v, %v; want an error saying %q", got, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestParseCommands(t *testing.T) {
	for _, c := range []struct {
		name, text string
		want       []command
	}{
		{name: "commands and prose", text: "# prose\nA=1\n\necho $A   # inline\n",
			want: []command{{line: 2, text: "A=1"}, {line: 4, text: "echo $A   # inline"}}},
		{name: "output right under", text: "curl x \\\n  -d y\n# {\"ok\":...}\n# ...\n\n# prose\nls\n",
			want: []command{{line: 1, text: "curl x \\\n  -d y", want: []string{`{"ok":...}`, "..."}}, {line: 7, text: "ls"}}},
		{name: "a blank line ends the output", text: "date\n# Fri\n\n# next\n",
			want: []command{{line: 1, text: "date", want: []string{"Fri"}}}},
		{name: "a comment ending in a backslash continues nothing", text: "# a \\\nls\n",
			want: []command{{line: 2, text: "ls"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := parseCommands(c.text); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestMatchOutput(t *testing.T) {
	out := "execution exec_1 running\n   1 execution_started {\"a\":1}\n   2 task_start {}\nresult {\"ok\":true}"
	for _, c := range []struct {
		name string
		want []string
		miss string
	}{
		{name: "nothing wanted", want: nil},
		{name: "wildcards", want: []string{"execution exec_... running", "1 execution_started {...}", "...", "result {...}"}},
		{name: "in order, others between", want: []string{"execution ...", "result ..."}},
		{name: "spaces at the ends do not count", want: []string{"  2 task_start {}  "}},
		{name: "a missing line", want: []string{"3 task_end ..."}, miss: "3 task_end ..."},
		{name: "out of order", want: []string{"result ...", "execution ..."}, miss: "execution ..."},
		{name: "a line matches whole", want: []string{"result {"}, miss: "result {"},
		{name: "no regexp", want: []string{"1 execution_started {.a.:1}"}, miss: "1 execution_started {.a.:1}"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := matchOutput(c.want, out); got != c.miss {
				t.Errorf("matchOutput = %q, want %q", got, c.miss)
			}
		})
	}
}

func TestIDs(t *testing.T) {
	m := ids{}
	m.learn(`{"items":[{"execution_id":"exec_06h461evz6ay5jkjrkw7h37w"},{"execution_id":"exec_06h45zzzzzzzzzzzzzzzzzzz"}]}`)
	m.learn("art_06h461f714hy0t4c1sf4792w uploaded; exec_ is not an id, nor exec_short")
	got, err := m.fill("weft tail exec_... && curl /artifacts/art_...")
	if want := "weft tail exec_06h461evz6ay5jkjrkw7h37w && curl /artifacts/art_06h461f714hy0t4c1sf4792w"; err != nil || got != want {
		t.Errorf("fill = %q, %v; want %q (the first id of a listing)", got, err, want)
	}
	m.learn("execution exec_06h462aaaaaaaaaaaaaaaaaaaa running")
	if got, _ := m.fill("exec_..."); got != "exec_06h462aaaaaaaaaaaaaaaaaaaa" {
		t.Errorf("fill = %q, want the id of the latest output", got)
	}
	if _, err := m.fill("weft schedules get sched_..."); err == nil || !strings.Contains(err.Error(), "sched_... stands for an id") {
		t.Errorf("fill of an unknown prefix: %v", err)
	}
	if got, err := m.fill("ls ..."); got != "ls ..." || err != nil {
		t.Errorf("fill without a placeholder = %q, %v", got, err)
	}
}

func TestRegions(t *testing.T) {
	src := "package p\n\n// readme:a\ntype T struct{}\n\n// readme:end\n\nfunc f() {\n\t// readme:a\n\tif x {\n\t\ty()\n\t}\n\t// readme:end\n\t// readme:b\n\tz()\n\t// readme:end\n}\n"
	got, err := regions(src)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "type T struct{}\n\nif x {\n\ty()\n}\n", "b": "z()\n"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	for _, bad := range []string{"// readme:end\n", "// readme:a\n// readme:b\n// readme:end\n", "// readme:a\nx\n"} {
		if _, err := regions(bad); err == nil {
			t.Errorf("regions(%q) took it", bad)
		}
	}
}
