package reference

import (
	"context"
	"encoding/json"

	"github.com/weft-run/weft/workflows"
)

// Echo returns its parameters unchanged, through one recorded task.
func Echo(ctx workflows.Context, params json.RawMessage) (json.RawMessage, error) {
	return workflows.Task(ctx, "echo", func(context.Context) (json.RawMessage, error) {
		return params, nil
	}, workflows.WithInput(params))
}
