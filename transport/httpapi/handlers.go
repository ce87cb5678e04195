package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/weft-run/weft"
	"github.com/weft-run/weft/actors"
)

// IdempotencyKeyHeader carries workflow.start's idempotency_key.
const IdempotencyKeyHeader = "Idempotency-Key"

func (a *API) listWorkflows(w http.ResponseWriter, _ *http.Request, who weft.Identity) error {
	list, err := a.svc.ListWorkflows(who)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"workflows": list})
	return nil
}

// startExecution: body {"parameters","metadata"}; 202 with the new
// execution, or 200 with the earlier one when the Idempotency-Key was
// seen before with the same parameters.
func (a *API) startExecution(w http.ResponseWriter, r *http.Request, who weft.Identity) error {
	var body struct {
		Parameters json.RawMessage `json:"parameters"`
		Metadata   json.RawMessage `json:"metadata"`
	}
	if err := a.decodeObject(w, r, &body); err != nil {
		return err
	}
	res, err := a.svc.Start(r.Context(), who, actors.StartRequest{
		Name:           r.PathValue("name"),
		Parameters:     body.Parameters,
		Metadata:       body.Metadata,
		IdempotencyKey: r.Header.Get(IdempotencyKeyHeader),
	})
	if err != nil {
		return err
	}
	status := http.StatusAccepted
	if res.Existing {
		status = http.StatusOK
	}
	w.Header().Set("Location", "/api/v1/executions/"+url.PathEscape(res.ExecutionID))
	writeJSON(w, status, res)
	return nil
}

// listExecutions: filters status, workflow, idempotency_key,
// created_after, created_before (RFC 3339), metadata (KEY=VALUE,
// repeated), limit, cursor as query parameters.
func (a *API) listExecutions(w http.ResponseWriter, r *http.Request, who weft.Identity) error {
	q := r.URL.Query()
	req := actors.ListRequest{
		Status:         weft.Status(q.Get("status")),
		Workflow:       q.Get("workflow"),
		IdempotencyKey: q.Get("idempotency_key"),
		CreatedAfter:   q.Get("created_after"),
		CreatedBefore:  q.Get("created_before"),
		Cursor:         q.Get("cursor"),
	}
	for _, pair := range q["metadata"] {
		k, v, ok := strings.Cut(pair, "=")
		if !ok || k == "" {
			return weft.Errorf(weft.CodeInvalidRequest, "metadata must be KEY=VALUE, got %q", pair)
		}
		if req.Metadata == nil {
			req.Metadata = map[string]string{}
		}
		req.Metadata[k] = v
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return weft.Errorf(weft.CodeInvalidRequest, "limit must be an integer")
		}
		req.Limit = n
	}
	res, err := a.svc.ListExecutions(r.Context(), who, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (a *API) getExecution(w http.ResponseWriter, r *http.Request, who weft.Identity) error {
	snap, err := a.svc.GetExecution(r.Context(), who, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, snap)
	return nil
}

// cancelExecution: body {"reason"}, optional.
func (a *API) cancelExecution(w http.ResponseWriter, r *http.Request, who weft.Identity) error {
	var body struct {
		Reason string `json:"reason"`
	}
	if err := a.decodeObject(w, r, &body); err != nil {
		return err
	}
	res, err := a.svc.Cancel(r.Context(), who, r.PathValue("id"), body.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// signalExecution: the body is the signal's payload, any JSON value (empty:
// no payload).
func (a *API) signalExecution(w http.ResponseWriter, r *http.Request, who weft.Identity) error {
	payload, err := a.readBody(w, r)
	if err != nil {
		return err
	}
	if payload != nil {
		var compact bytes.Buffer
		if err := json.Compact(&compact, payload); err != nil {
			return weft.Errorf(weft.CodeInvalidRequest, "request body (the payload) is not valid JSON")
		}
		payload = compact.Bytes()
	}
	res, err := a.svc.Signal(r.Context(), who, actors.SignalRequest{
		ExecutionID: r.PathValue("id"),
		Name:        r.PathValue("name"),
		Payload:     payload,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// broadcast: body {"message": any JSON}; the answer is the socket's. Over
// HTTP there is no sender connection, so every member gets it.
func (a *API) broadcast(w http.ResponseWriter, r *http.Request, who weft.Identity) error {
	var body struct {
		Message json.RawMessage `json:"message"`
	}
	if err := a.decodeObject(w, r, &body); err != nil {
		return err
	}
	res, err := a.svc.Broadcast(r.Context(), who, "", r.PathValue("room"), body.Message)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (a *API) listConnections(w http.ResponseWriter, r *http.Request, who weft.Identity) error {
	res, err := a.svc.Connections(r.Context(), who)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
