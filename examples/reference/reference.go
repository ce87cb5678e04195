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
	workflows.Register(r, "approval", Approval,
		workflows.Description("Waits `delay_ms` (a task), then for the signal `approve`; the result is its payload."))
	workflows.Register(r, "flaky", Flaky,
		workflows.Description("One task that fails its first `fail_times` attempts, then succeeds."))
	workflows.Register(r, "fanout", Fanout,
		workflows.Description("`n` parallel tasks, then an aggregate."))
	workflows.Register(r, "nap", Nap,
		workflows.Description("A durable sleep of `seconds`, then completes."))
	workflows.Register(r, "chat-bot", ChatBot, workflows.OnRoomMessage(ChatRoom),
		workflows.Description("Answers each message broadcast in the room \"chat\", into the room."))
	workflows.Register(r, "stream", Stream,
		workflows.Description("One LLM step streaming `chunks` llm_delta events as fast as it can (load tests)."))
	workflows.Register(r, "wordcount", Wordcount,
		workflows.Description("Reads the artifact `artifact_id`, counts its words; stores the sorted word frequencies as a new artifact."))
}
