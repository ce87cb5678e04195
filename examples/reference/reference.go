package reference

import (
	"github.com/weft-run/weft/workflows"
)

// Register adds every reference workflow to r.
func Register(r *workflows.Registry) {
	workflows.Register(r, "echo", Echo,
		workflows.Description("Returns its parameters, through one task."))
	workflows.Register(r, "search-candidates", SearchCandidates,
		workflows.Description("Finds and ranks candidates for a query: a task, an LLM call (streamed) and a tool."))
	workflows.Register(r, "countdown", Countdown,
		workflows.Description("Runs `steps` sequential tasks, each sleeping `delay_ms`."))
}
