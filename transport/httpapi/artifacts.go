package httpapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/weft-run/weft"
)

// The artifact routes (PROTOCOL.md section 8):
//
//	POST   /api/v1/artifacts?name=  body = the bytes; 201 the metadata
//	GET    /api/v1/artifacts        the workspace's artifacts' metadata
//	GET    /api/v1/artifacts/{id}   the bytes (Content-Type, ETag, Range)
//	DELETE /api/v1/artifacts/{id}   {"deleted":true}

// addArtifactRoutes mounts the artifact routes on m.
func (a *API) addArtifactRoutes(m *Mux) {
	m.Handle("POST", "/api/v1/artifacts", "", a.authed(a.putArtifact))
	m.Handle("GET", "/api/v1/artifacts", "", a.authed(a.listArtifacts))
	m.Handle("GET", "/api/v1/artifacts/{id}", "", a.authed(a.getArtifact))
	m.Handle("DELETE", "/api/v1/artifacts/{id}", "", a.authed(a.deleteArtifact))
}

// putArtifact streams the body into storage: it is never held in memory,
// and one larger than the bound is 413 with nothing left behind. The read
// deadline is pushed back as the body arrives (see pacedBody).
//
// Every attempt by a known identity is audited as artifact.upload, refused
// ones included: its target is the new artifact's id, or the name asked
// for when there is none (as a failed start names its workflow).
func (a *API) putArtifact(w http.ResponseWriter, r *http.Request, who weft.Identity) (err error) {
	target := r.URL.Query().Get("name")
	defer func() { a.Audit(r, who, "artifact.upload", target, err) }()
	if err := a.svc.CanPutArtifact(who); err != nil {
		return err // before the body is read
	}
	max := a.svc.MaxArtifactBytes()
	if r.ContentLength > max {
		return weft.Errorf(weft.CodeMessageTooLarge, "artifact of %d bytes: the bound is %d", r.ContentLength, max)
	}
	body := &pacedBody{r: http.MaxBytesReader(w, r.Body, max+1), rc: http.NewResponseController(w), window: a.cfg.ReadTimeout}
	m, err := a.svc.PutArtifact(r.Context(), who, r.URL.Query().Get("name"), r.Header.Get("Content-Type"), body)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig), weft.ErrorCode(err) == weft.CodeMessageTooLarge:
		return weft.Errorf(weft.CodeMessageTooLarge, "artifact larger than %d bytes (--max-artifact-bytes)", max)
	case err != nil:
		return err
	}
	target = m.ID
	w.Header().Set("Location", "/api/v1/artifacts/"+m.ID)
	writeJSON(w, http.StatusCreated, m)
	return nil
}

// getArtifact serves the bytes with http.ServeContent: Content-Type, ETag
// (the sha256), Range and conditional requests.
func (a *API) getArtifact(w http.ResponseWriter, r *http.Request, who weft.Identity) error {
	f, m, err := a.svc.OpenArtifact(r.Context(), who, r.PathValue("id"))
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Type", m.ContentType)
	w.Header().Set("ETag", `"`+m.SHA256+`"`)
	w.Header().Set("X-Artifact-Name", m.Name)
	w.Header().Set("X-Artifact-Size", strconv.FormatInt(m.Size, 10))
	// A large download is bounded by its pace, not the server's write
	// timeout (it has none by default).
	http.ServeContent(w, r, m.Name, m.CreatedAt, f)
	return nil
}

func (a *API) listArtifacts(w http.ResponseWriter, r *http.Request, who weft.Identity) error {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	res, err := a.svc.ListArtifacts(r.Context(), who, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// deleteArtifact is audited as artifact.delete on the id, refused
// attempts included.
func (a *API) deleteArtifact(w http.ResponseWriter, r *http.Request, who weft.Identity) (err error) {
	defer func() { a.Audit(r, who, "artifact.delete", r.PathValue("id"), err) }()
	res, err := a.svc.DeleteArtifact(r.Context(), who, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
