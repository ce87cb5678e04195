package httpapi

import (
	"net/http"

	"github.com/weft-run/weft"
)

// deleteExecution serves DELETE /api/v1/executions/{id} (execution.delete):
// 200 {"deleted":true}; a live execution is 409 CONFLICT.
func (a *API) deleteExecution(w http.ResponseWriter, r *http.Request, who weft.Identity) error {
	res, err := a.svc.DeleteExecution(r.Context(), who, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
