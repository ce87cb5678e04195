package main_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// weftCLI runs the weft binary with args and returns its stdout and exit
// code.
func weftCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(weftBinary(t), args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("weft %v: %v", args, err)
	}
	if code != 0 {
		t.Logf("weft %v exited %d: %s", args, code, stderr.String())
	}
	return string(out), code
}

func TestSchedulesCLI(t *testing.T) {
	weftBinary(t)
	p := startWeft(t, "weft", t.TempDir(), writeKeys(t))
	flags := []string{"--server", "http://" + p.addr, "--token", crashToken}
	run := func(want int, args ...string) string {
		t.Helper()
		out, code := weftCLI(t, append(append([]string{"schedules"}, args[:1]...), append(flags, args[1:]...)...)...)
		if code != want {
			t.Fatalf("weft schedules %v: exit %d, want %d; output %s", args, code, want, out)
		}
		return out
	}

	out := run(0, "create", "--every", "1h", "--params", `{"x":1}`, "--overlap", "allow", "echo")
	id := strings.Fields(out)[0]
	if !strings.HasPrefix(id, "sched_") || !strings.Contains(out, "next run") {
		t.Fatalf("create printed %q", out)
	}
	if out := run(0, "ls"); !strings.Contains(out, id) || !strings.Contains(out, "every 1h0m0s") {
		t.Fatalf("ls printed %q", out)
	}
	if out := run(0, "pause", id); !strings.Contains(out, "paused") {
		t.Fatalf("pause printed %q", out)
	}
	if out := run(0, "trigger", id); !strings.Contains(out, "started exec_") {
		t.Fatalf("trigger printed %q", out)
	}
	var list struct {
		Schedules []struct {
			ID              string `json:"schedule_id"`
			Paused          bool   `json:"paused"`
			Overlap         string `json:"overlap"`
			LastExecutionID string `json:"last_execution_id"`
		} `json:"schedules"`
	}
	if err := json.Unmarshal([]byte(run(0, "ls", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Schedules) != 1 || !list.Schedules[0].Paused || list.Schedules[0].Overlap != "allow" || list.Schedules[0].LastExecutionID == "" {
		t.Fatalf("ls --json: %+v", list)
	}
	if out := run(0, "resume", id); !strings.Contains(out, "active") {
		t.Fatalf("resume printed %q", out)
	}
	run(0, "delete", id)
	run(1, "get", id)                                // SCHEDULE_NOT_FOUND
	run(1, "create", "--cron", "61 * * * *", "echo") // INVALID_REQUEST
	run(2, "create", "--every", "1h")                // no workflow
	run(2, "pause")                                  // no id
}
