package client_test

import (
	"testing"

	"github.com/weft-run/weft/client"
)

// TestWorkflowStats: after two completed echoes, WorkflowStats counts them
// for the day (the default) and the hour; an unknown workflow is
// WORKFLOW_NOT_FOUND and another period INVALID_REQUEST.
func TestWorkflowStats(t *testing.T) {
	ts := startServer(t, "", "")
	ctx := testCtx(t)
	c := dial(t, ts.url(), client.Options{})
	for range 2 {
		exec, err := c.Start(ctx, "echo", map[string]any{"n": 1})
		if err != nil {
			t.Fatal(err)
		}
		checkStream(t, collect(t, exec), "execution_completed")
	}
	for _, period := range []string{"", "hour"} {
		st, err := c.WorkflowStats(ctx, "echo", period)
		if err != nil {
			t.Fatalf("WorkflowStats(echo, %q): %v", period, err)
		}
		want := period
		if want == "" {
			want = "day"
		}
		if st.Workflow != "echo" || st.Period != want || st.Runs != 2 || st.Completed != 2 ||
			st.SuccessRate != 1 || st.Health != "ok" || st.AvgDurationMS <= 0 || st.From.IsZero() {
			t.Errorf("WorkflowStats(echo, %q) = %+v, want 2 completed runs, ok", period, st)
		}
	}
	_, err := c.WorkflowStats(ctx, "no-such-workflow", "")
	wantCode(t, "unknown workflow", err, client.CodeWorkflowNotFound, false)
	_, err = c.WorkflowStats(ctx, "echo", "month")
	wantCode(t, "bad period", err, client.CodeInvalidRequest, false)
}
