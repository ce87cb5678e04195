package server_test

import (
	"maps"
	"testing"

	"github.com/weft-run/weft/actors"
	"github.com/weft-run/weft/server"
	"github.com/weft-run/weft/transport/ws"
)

// TestServerInfoAnnouncesLimits: server.info's limits say what a client
// may send and which caps and quotas it may run into, the defaults or
// the server's settings; a limit that is off is left out.
func TestServerInfoAnnouncesLimits(t *testing.T) {
	limitsOf := func(ts *testServer) map[string]float64 {
		t.Helper()
		f := dial(t, ts, adminToken).call("info", "server.info", nil)
		if f.Error != nil {
			t.Fatal(f.Error)
		}
		return decode[struct {
			Limits map[string]float64 `json:"limits"`
		}](t, f.Response).Limits
	}
	defaults := limitsOf(startServer(t, ""))
	want := map[string]float64{
		"max_message_bytes": 65536, "messages_per_second": 100, "max_inflight": 1000,
		"max_connections_per_ip": 1000, "executions_per_workspace": 100_000,
		"signals_per_execution": 1000, "rooms_per_connection": 100,
	}
	if !maps.Equal(defaults, want) {
		t.Errorf("default limits %v, want %v", defaults, want)
	}

	set := limitsOf(bootServer(t, "", func(cfg *server.Config) {
		cfg.Socket = ws.Config{MaxConnectionsPerIP: -1, MaxConnectionsPerWorkspace: 7, MaxInflight: 50}
		cfg.Quotas = actors.Quotas{ExecutionsPerWorkspace: -1, SignalsPerExecution: 3}
	}))
	want = map[string]float64{
		"max_message_bytes": 65536, "messages_per_second": 100, "max_inflight": 50,
		"max_connections_per_workspace": 7, "signals_per_execution": 3, "rooms_per_connection": 100,
	}
	if !maps.Equal(set, want) {
		t.Errorf("limits set %v, want %v", set, want)
	}
}
