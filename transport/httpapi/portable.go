package httpapi

import (
	"io"
	"net/http"
	"time"

	"github.com/weft-run/weft"
)

// The export and import routes (admin only; see actors/portable.go):
//
//	GET  /api/v1/executions/{id}/export  one persistence.Record as a JSON line
//	POST /api/v1/import                  a JSON-lines body of records; 200 {"imported","skipped"}

// exportExecution answers the execution in portable form, the line `weft
// export` writes.
func (a *API) exportExecution(w http.ResponseWriter, r *http.Request, who weft.Identity) error {
	rec, err := a.svc.ExportExecution(r.Context(), who, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

// importExecutions streams the body's records into the store: one line is
// held at a time (persistence.MaxRecordBytes at most), not the body, which
// has no overall bound. The read deadline is pushed back as the body
// arrives, so a large file is bounded by its pace, not its size.
func (a *API) importExecutions(w http.ResponseWriter, r *http.Request, who weft.Identity) error {
	if err := a.svc.CanImport(who); err != nil {
		return err // before the body is read
	}
	body := &pacedBody{r: r.Body, rc: http.NewResponseController(w), window: a.cfg.ReadTimeout}
	res, err := a.svc.ImportRecords(r.Context(), who, body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// pacedBody extends the request's read deadline before each read.
type pacedBody struct {
	r      io.Reader
	rc     *http.ResponseController
	window time.Duration
}

func (b *pacedBody) Read(p []byte) (int, error) {
	_ = b.rc.SetReadDeadline(time.Now().Add(b.window))
	return b.r.Read(p)
}
