package workflows_test

import (
	"context"
	"testing"

	"github.com/weft-run/weft/workflows"
)

// The scripted provider names a model: "scripted:<ScriptName>", or
// "scripted-1" without one, in llm_start (DefaultModel) and in its reply.
func TestScriptedProviderNamesItsModel(t *testing.T) {
	for _, tc := range []struct {
		p    workflows.ScriptedProvider
		want string
	}{
		{workflows.ScriptedProvider{}, "scripted-1"},
		{workflows.ScriptedProvider{ScriptName: "triage"}, "scripted:triage"},
	} {
		if got := tc.p.DefaultModel(); got != tc.want {
			t.Errorf("DefaultModel() = %q, want %q", got, tc.want)
		}
		resp, err := tc.p.Stream(context.Background(), workflows.LLMRequest{Messages: []workflows.Message{{Role: "user", Content: "hi"}}}, func(string) {})
		if err != nil || resp.Model != tc.want {
			t.Errorf("Stream answered model %q (%v), want %q", resp.Model, err, tc.want)
		}
	}
}
