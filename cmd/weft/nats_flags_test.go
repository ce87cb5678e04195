package main

import (
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weft-run/weft/internal/logbuf"
)

// Flags, options and output of weft cluster nats and weft cluster up; the
// commands themselves run for real in cluster_up_test.go.

func TestParseSync(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    syncFlag
		str     string
		wantErr bool
	}{
		{"default", syncFlag{}, "default", false},
		{"", syncFlag{}, "default", false},
		{"always", syncFlag{always: true}, "always", false},
		{"1s", syncFlag{interval: time.Second}, "1s", false},
		{"250ms", syncFlag{interval: 250 * time.Millisecond}, "250ms", false},
		{"0s", syncFlag{}, "", true},
		{"-1s", syncFlag{}, "", true},
		{"Always", syncFlag{}, "", true},
		{"sometimes", syncFlag{}, "", true},
		{"10", syncFlag{}, "", true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseSync(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseSync(%q) error %v, want error %v", tc.in, err, tc.wantErr)
			}
			if tc.wantErr {
				if !strings.Contains(err.Error(), "want default, always or a positive duration") {
					t.Errorf("error %q does not say what is wanted", err)
				}
				return
			}
			if got != tc.want || got.String() != tc.str {
				t.Errorf("parseSync(%q) = %+v (%s), want %+v (%s)", tc.in, got, got.String(), tc.want, tc.str)
			}
		})
	}
}

func validNATSFlags() natsFlags {
	return natsFlags{servers: 3, port: 4222, clusterPort: 6222, dataDir: "d", clusterName: "weft"}
}

func TestNATSFlagsCheck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*natsFlags)
		want   string // in the usage error; "" for none
	}{
		{"valid", func(*natsFlags) {}, ""},
		{"one server needs no route port", func(f *natsFlags) { f.servers, f.clusterPort = 1, 0 }, ""},
		{"only one of them", func(f *natsFlags) { f.only = 3 }, ""},
		{"no servers", func(f *natsFlags) { f.servers = 0 }, "--servers 0: want 1 to 7"},
		{"too many servers", func(f *natsFlags) { f.servers = 8 }, "--servers 8"},
		{"only past the servers", func(f *natsFlags) { f.only = 4 }, "--only 4"},
		{"only negative", func(f *natsFlags) { f.only = -1 }, "--only -1"},
		{"ports past 65535", func(f *natsFlags) { f.port = 65534 }, "--port 65534"},
		{"route ports past 65535", func(f *natsFlags) { f.clusterPort = 65535 }, "--cluster-port 65535"},
		{"monitor port zero is none", func(f *natsFlags) { f.monitorPort = 0 }, ""},
		{"monitor ports past 65535", func(f *natsFlags) { f.monitorPort = 65534 }, "--monitor-port 65534"},
		{"cluster name with a dot", func(f *natsFlags) { f.clusterName = "a.b" }, "--cluster-name"},
		{"empty cluster name", func(f *natsFlags) { f.clusterName = "" }, "--cluster-name"},
		{"no data dir", func(f *natsFlags) { f.dataDir = "" }, "--data-dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := validNATSFlags()
			tc.change(&f)
			err := f.check()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("check: %v", err)
				}
				return
			}
			if _, usage := err.(usageError); !usage || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("check = %v, want a usage error with %q", err, tc.want)
			}
		})
	}
}

func TestNATSOptions(t *testing.T) {
	f := validNATSFlags()
	f.monitorPort = 8222
	f.sync = syncFlag{always: true}
	o := f.options(2)
	if o.ServerName != "weft-2" || o.Host != "127.0.0.1" || o.Port != 4223 || o.HTTPPort != 8223 ||
		o.StoreDir != filepath.Join("d", "weft-2") || !o.JetStream || !o.SyncAlways || !o.NoSigs {
		t.Errorf("options(2) = name %s host %s port %d monitor %d store %s js %v sync %v nosigs %v",
			o.ServerName, o.Host, o.Port, o.HTTPPort, o.StoreDir, o.JetStream, o.SyncAlways, o.NoSigs)
	}
	if o.Cluster.Name != "weft" || o.Cluster.Port != 6223 {
		t.Errorf("cluster %+v, want weft on 6223", o.Cluster)
	}
	var routes []string
	for _, r := range o.Routes {
		routes = append(routes, r.String())
	}
	if want := []string{"nats://127.0.0.1:6222", "nats://127.0.0.1:6224"}; !slices.Equal(routes, want) {
		t.Errorf("routes %q, want the others' only %q", routes, want)
	}
	if got, want := f.urls(), "nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224"; got != want {
		t.Errorf("urls %q, want %q", got, want)
	}

	f.servers, f.sync = 1, syncFlag{interval: time.Second}
	o = f.options(1)
	if o.Cluster.Port != 0 || len(o.Routes) != 0 || o.SyncAlways || o.SyncInterval != time.Second {
		t.Errorf("one server: cluster %+v, routes %v, sync always %v interval %v", o.Cluster, o.Routes, o.SyncAlways, o.SyncInterval)
	}
	if _, err := url.Parse(f.urls()); err != nil {
		t.Error(err)
	}
}

func TestUpFlagsCheck(t *testing.T) {
	valid := func() upFlags {
		return upFlags{nodes: 3, natsServers: 3, port: 8081, natsPort: 4222, natsClusterPort: 6222, dataDir: "weft-data"}
	}
	for _, tc := range []struct {
		name         string
		change       func(*upFlags)
		want         string // in the usage error; "" for none
		wantReplicas int
	}{
		{"defaults", func(*upFlags) {}, "", 3},
		{"one server, one replica", func(f *upFlags) { f.natsServers = 1 }, "", 1},
		{"five servers, three replicas", func(f *upFlags) { f.natsServers = 5 }, "", 3},
		{"replicas given", func(f *upFlags) { f.replicas = 2 }, "", 2},
		{"more replicas than servers", func(f *upFlags) { f.natsServers, f.replicas = 2, 3 }, "--nats-replicas 3: want 1 to 2", 0},
		{"no nodes", func(f *upFlags) { f.nodes = 0 }, "--nodes 0", 0},
		{"too many nodes", func(f *upFlags) { f.nodes = 10 }, "--nodes 10", 0},
		{"no NATS", func(f *upFlags) { f.natsServers = 0 }, "--nats-servers 0", 0},
		{"node ports past 65535", func(f *upFlags) { f.port = 65534 }, "--port 65534", 0},
		{"serve flags", func(f *upFlags) { f.serveArgs = []string{"--llm-provider", "openai", "-retention=1h"} }, "", 3},
		{"serve --addr", func(f *upFlags) { f.serveArgs = []string{"--addr", "x"} }, "--addr after --", 0},
		{"serve -node-id=", func(f *upFlags) { f.serveArgs = []string{"-node-id=n"} }, "-node-id=n after --", 0},
		{"serve --nats-url", func(f *upFlags) { f.serveArgs = []string{"--nats-url=nats://x"} }, "sets --nats-url", 0},
		{"a value that looks like a managed name", func(f *upFlags) { f.serveArgs = []string{"--llm-model", "keys"} }, "", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := valid()
			tc.change(&f)
			err := f.check()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("check: %v", err)
				}
				if f.replicas != tc.wantReplicas {
					t.Errorf("replicas %d, want %d", f.replicas, tc.wantReplicas)
				}
				return
			}
			if _, usage := err.(usageError); !usage || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("check = %v, want a usage error with %q", err, tc.want)
			}
		})
	}
}

// TestLineMux: lines of several writers come out whole, each behind its
// name; a line waits for its end, or for flush.
func TestLineMux(t *testing.T) {
	var out logbuf.Buffer
	m := newLineMux(&out, true)
	a, b := m.writer("node1"), m.writer("up")
	write := func(w *lineWriter, s string) {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	write(a, "one ")
	write(b, "first\nsecond\nthi")
	write(a, "line\ntwo")
	b.flush()
	a.flush()
	a.flush() // nothing left
	want := "up    | first\nup    | second\nnode1 | one line\nup    | thi\nnode1 | two\n"
	if got := out.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}

	out.Reset()
	plain := newLineMux(&out, false).writer("node1")
	write(plain, `{"level":"info"}`+"\n")
	long := strings.Repeat("x", maxLine+1)
	write(plain, long)
	if got := out.String(); got != `{"level":"info"}`+"\n"+long+"\n" {
		t.Errorf("json lines got a prefix, or a line past maxLine was held: %.80q", got)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"weft":                  "weft",
		"--nats-url":            "--nats-url",
		"nats://127.0.0.1:4222": "nats://127.0.0.1:4222",
		"weft-data/node1":       "weft-data/node1",
		"":                      "''",
		"my dir":                "'my dir'",
		"it's":                  `'it'\''s'`,
		"$HOME":                 "'$HOME'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
