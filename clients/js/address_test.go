package js_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/weft-run/weft/client"
)

// addressCase is one row of clients/testdata/addresses.json, the table of
// server addresses every client reads the same way.
type addressCase struct {
	In      string `json:"in"`
	Socket  string `json:"socket"`
	HTTP    string `json:"http"`
	Invalid string `json:"invalid"`
}

func addressCases(t *testing.T) []addressCase {
	t.Helper()
	raw, err := os.ReadFile("../testdata/addresses.json")
	if err != nil {
		t.Fatal(err)
	}
	var table struct{ Cases []addressCase }
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatalf("clients/testdata/addresses.json: %v", err)
	}
	if len(table.Cases) == 0 {
		t.Fatal("clients/testdata/addresses.json has no cases")
	}
	return table.Cases
}

// TestAddressTable: the Go client (client.ParseAddress, behind Dial and the
// CLI's --server) reads the shared table as test/address.test.js holds the
// JavaScript client to.
func TestAddressTable(t *testing.T) {
	for _, c := range addressCases(t) {
		t.Run(c.In, func(t *testing.T) {
			a, err := client.ParseAddress(c.In)
			if c.Invalid != "" {
				if client.ErrorCode(err) != client.CodeInvalidRequest {
					t.Errorf("ParseAddress(%q) = %+v, %v; want INVALID_REQUEST (%s)", c.In, a, err, c.Invalid)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Socket() != c.Socket || a.HTTP() != c.HTTP {
				t.Errorf("got socket %s, HTTP %s; want %s, %s", a.Socket(), a.HTTP(), c.Socket, c.HTTP)
			}
		})
	}
}

// TestAddressesAgree feeds the same generated addresses to the Go client
// and to weft.js's serverURLs (under Node) and wants the same answers:
// the same two URLs, or a refusal from both.
func TestAddressesAgree(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	inputs := generatedAddresses(3000)
	for _, c := range addressCases(t) {
		inputs = append(inputs, c.In)
	}
	type answer struct {
		Socket string `json:"socket"`
		HTTP   string `json:"http"`
		Error  string `json:"error"`
	}
	in, _ := json.Marshal(inputs)
	cmd := exec.Command(node, "--input-type=module", "-e", `
import { serverURLs } from './weft.js';
let input = '';
for await (const chunk of process.stdin) input += chunk;
const out = JSON.parse(input).map((a) => {
  try { return serverURLs(a); } catch (err) { return { error: err.code ? err.message : 'not a WeftError: ' + err }; }
});
process.stdout.write(JSON.stringify(out));
`)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var js []answer
	if err := json.Unmarshal(out, &js); err != nil || len(js) != len(inputs) {
		t.Fatalf("node's answers: %v (%d for %d inputs)", err, len(js), len(inputs))
	}
	disagree := 0
	for i, s := range inputs {
		var got answer
		if a, err := client.ParseAddress(s); err != nil {
			got.Error = err.Error()
		} else {
			got.Socket, got.HTTP = a.Socket(), a.HTTP()
		}
		if strings.HasPrefix(js[i].Error, "not a WeftError") {
			t.Errorf("%q: JS threw %s", s, js[i].Error)
		}
		if (got.Error != "") != (js[i].Error != "") || got.Socket != js[i].Socket || got.HTTP != js[i].HTTP {
			disagree++
			if disagree <= 20 {
				t.Errorf("%q:\n  Go: %+v\n  JS: %+v", s, got, js[i])
			}
		}
	}
	if disagree > 0 {
		t.Errorf("Go and JS disagree on %d of %d addresses", disagree, len(inputs))
	}
}

// generatedAddresses makes n address-like strings from pieces that touch
// every rule (schemes, hosts, ports, paths, what is refused), the same
// ones on every run.
func generatedAddresses(n int) []string {
	r := rand.New(rand.NewPCG(18, 2026))
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	out := make([]string, 0, n)
	for range n {
		var b strings.Builder
		b.WriteString(pick("", "", "http://", "https://", "ws://", "WSS://", "Http://", "ftp://", "http:/", "//", "http:", "ws:///"))
		b.WriteString(pick("127.0.0.1", "localhost", "Weft.Example.com", "[::1]", "[fe80::1]", "", "a b", "h_1", "user@h", "x", "1.2.3", "-h"))
		b.WriteString(pick("", "", ":8080", ":80", ":0", ":65535", ":65536", ":", ":http", ":08080", "::1", ":99999999"))
		b.WriteString(pick("", "", "/", "/api/v1/socket", "/api/v1/socket/", "/weft", "/weft/", "//", "/weft/api/v1/socket",
			"/api/v1/socket/api/v1/socket", "/a b", "/%41", "/ä", "/api/v1/sockets"))
		b.WriteString(pick("", "", "", "?", "?token=x", "#", "#top", " ", "\n", "\t"))
		out = append(out, b.String())
	}
	return out
}
