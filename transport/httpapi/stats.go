package httpapi

import (
	"net/http"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/actors"
)

// workflowStats serves GET /api/v1/workflows/{name}/stats?period=
// (workflow.stats): 200 with the stats; an unknown workflow is 404
// WORKFLOW_NOT_FOUND, a period other than hour, day or week 400.
func (a *API) workflowStats(w http.ResponseWriter, r *http.Request, who weft.Identity) error {
	res, err := a.svc.WorkflowStats(r.Context(), who, actors.StatsRequest{
		Name:   r.PathValue("name"),
		Period: r.URL.Query().Get("period"),
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
