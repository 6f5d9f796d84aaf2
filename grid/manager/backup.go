package manager

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/backup"
	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/internal/httpjson"
	"github.com/insightgrid/insight/grid/internal/opauth"
)

// Backups through the manager: the snapshot of one partition, proxied from its serving
// primary, and the restore of one snapshot by slot (package backup). Both refuse while a
// repartition moves slots: a snapshot could miss the keys on their way, and a restore
// would route by a map about to change.

// streamClient sends requests to data instances whose answers stream for as long as
// the partition is big: no overall timeout, the request's context bounds it.
func (m *Manager) streamClient() *http.Client { return &http.Client{Transport: m.hc.Transport} }

// loadForBackup reads the cluster state for a backup or restore, answering the error
// itself (false) when it cannot, or when slots are moving.
func (m *Manager) loadForBackup(w http.ResponseWriter, r *http.Request, what string) (*cluster.State, bool) {
	st, ok := m.loadMapped(w, r)
	if !ok {
		return nil, false
	}
	if n := len(st.Map.Moves); n > 0 {
		httpjson.Error(w, http.StatusConflict, api.CodeConflict,
			"%s: a repartition is moving slots (%d moves in the partition map): wait until GET %s says it is done and retry", what, n, api.PathRepartition)
		return nil, false
	}
	return st, true
}

// primaryOf returns the HTTP address of partition p's primary.
func primaryOf(st *cluster.State, p int) (string, error) {
	rec, ok := st.Records[p]
	if !ok {
		return "", fmt.Errorf("partition %d has no record yet: it is starting", p)
	}
	inst, ok := st.Instances[rec.Primary]
	if !ok || inst.HTTPAddress == "" {
		return "", fmt.Errorf("partition %d: primary %s is not registered (stopped or restarting)", p, rec.Primary)
	}
	return inst.HTTPAddress, nil
}

// postSnapshot is POST /v1/partitions/{id}/snapshot: partition id's snapshot, streamed
// from its primary with the headers and trailers api.Client.Snapshot reads.
func (m *Manager) postSnapshot(w http.ResponseWriter, r *http.Request) {
	id, ok := partitionID(w, r)
	if !ok {
		return
	}
	st, ok := m.loadForBackup(w, r, fmt.Sprintf("snapshot of partition %d", id))
	if !ok {
		return
	}
	if id >= len(st.Map.Partitions) {
		httpjson.Error(w, http.StatusNotFound, api.CodeNotFound, "partition %d not found: the grid has %d partitions", id, len(st.Map.Partitions))
		return
	}
	addr, err := primaryOf(st, id)
	if err != nil {
		httpjson.Error(w, http.StatusServiceUnavailable, api.CodeUnavailable, "snapshot: %v", err)
		return
	}
	resp, err := m.toPrimary(r.Context(), addr, backup.PathSnapshot, nil)
	if err != nil {
		httpjson.Error(w, http.StatusBadGateway, api.CodeBadGateway, "snapshot of partition %d from %s: %v", id, addr, err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		relayError(w, resp)
		return
	}
	h := w.Header()
	for _, k := range []string{"Content-Type", api.HeaderEpoch, api.HeaderSeq} {
		h.Set(k, resp.Header.Get(k))
	}
	h.Set("Trailer", api.TrailerKeys+", "+api.TrailerSeqEnd)
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, resp.Body); err != nil {
		m.log.Warn("snapshot stream cut", "partition", id, "err", err)
		return // no trailers: the client sees it cut short
	}
	for _, k := range []string{api.TrailerKeys, api.TrailerSeqEnd} {
		if v := resp.Trailer.Get(k); v != "" {
			h.Set(k, v)
		}
	}
}

// postRestore is POST /v1/restore: the body, one partition's snapshot, is restored by
// slot into the partitions that own the slots now.
func (m *Manager) postRestore(w http.ResponseWriter, r *http.Request) {
	st, ok := m.loadForBackup(w, r, "restore")
	if !ok {
		return
	}
	primaries := map[int]string{}
	for p := range st.Map.Partitions {
		addr, err := primaryOf(st, p)
		if err != nil {
			httpjson.Error(w, http.StatusServiceUnavailable, api.CodeUnavailable, "restore: %v", err)
			return
		}
		primaries[p] = addr
	}
	var failed *sendError
	rt := backup.Router{Owners: st.Map.Owners(), Send: func(ctx context.Context, p int, batch []byte) (uint64, error) {
		n, err := m.sendRestore(ctx, primaries[p], batch)
		if err != nil {
			failed = &sendError{err}
			return 0, failed
		}
		return n, nil
	}}
	res, err := rt.Restore(r.Context(), r.Body)
	switch {
	case err != nil && failed != nil:
		httpjson.Error(w, http.StatusServiceUnavailable, api.CodeUnavailable, "restore stopped after %d keys: %v", res.Keys, err)
	case err != nil:
		httpjson.Error(w, http.StatusBadRequest, api.CodeBadRequest, "restore stopped after %d keys: the snapshot is damaged or not a snapshot: %v", res.Keys, err)
	default:
		m.log.Info("snapshot restored", "keys", res.Keys, "byPartition", res.ByPartition)
		httpjson.Write(w, http.StatusOK, res)
	}
}

// postRestoreLibraries is POST /v1/restore/libraries: the function libraries in the
// head of a snapshot (api.SnapshotHead), with their names; nothing is written.
func (m *Manager) postRestoreLibraries(w http.ResponseWriter, r *http.Request) {
	codes, err := backup.HeadLibraries(io.LimitReader(r.Body, 2*api.SnapshotHeadMax))
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, api.CodeBadRequest, "the function libraries of a snapshot: the head is damaged or not a snapshot's: %v", err)
		return
	}
	out := api.SnapshotLibraries{Libraries: []api.Library{}}
	for _, code := range codes {
		name, err := backup.LibraryName(code)
		if err != nil {
			httpjson.Error(w, http.StatusBadRequest, api.CodeBadRequest, "the function libraries of a snapshot: %v", err)
			return
		}
		out.Libraries = append(out.Libraries, api.Library{Name: name, Code: code})
	}
	httpjson.Write(w, http.StatusOK, out)
}

// postRestoreFunctions is POST /v1/restore/functions: the body's function libraries are
// loaded on every primary. It asks every primary first whether it holds libraries, and
// refuses, loading nothing, when one does.
func (m *Manager) postRestoreFunctions(w http.ResponseWriter, r *http.Request) {
	var req api.FunctionsRestore
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<31)).Decode(&req); err != nil {
		httpjson.Error(w, http.StatusBadRequest, api.CodeBadRequest, "restore of function libraries: the body is not {\"libraries\": [code, ...]}: %v", err)
		return
	}
	seen := map[string]bool{}
	for _, code := range req.Libraries {
		name, err := backup.LibraryName(code)
		if err != nil {
			httpjson.Error(w, http.StatusBadRequest, api.CodeBadRequest, "restore of function libraries: %v", err)
			return
		}
		if seen[name] {
			httpjson.Error(w, http.StatusBadRequest, api.CodeBadRequest, "restore of function libraries: library %q is given twice; give each library once", name)
			return
		}
		seen[name] = true
	}
	st, ok := m.loadForBackup(w, r, "restore of function libraries")
	if !ok {
		return
	}
	addrs := make([]string, len(st.Map.Partitions))
	for p := range addrs {
		addr, err := primaryOf(st, p)
		if err != nil {
			httpjson.Error(w, http.StatusServiceUnavailable, api.CodeUnavailable, "restore of function libraries: %v", err)
			return
		}
		addrs[p] = addr
	}
	for _, check := range []bool{true, false} {
		body, err := json.Marshal(backup.FunctionsRequest{Libraries: req.Libraries, Check: check})
		if err != nil {
			httpjson.Error(w, http.StatusInternalServerError, api.CodeInternal, "restore of function libraries: %v", err)
			return
		}
		for p, addr := range addrs {
			resp, err := m.toPrimary(r.Context(), addr, backup.PathFunctions, body)
			if err != nil {
				httpjson.Error(w, http.StatusBadGateway, api.CodeBadGateway, "restore of function libraries into partition %d at %s: %v", p, addr, err)
				return
			}
			if resp.StatusCode != http.StatusOK {
				relayError(w, resp)
				resp.Body.Close()
				return
			}
			resp.Body.Close()
		}
	}
	m.log.Info("function libraries restored", "libraries", len(req.Libraries), "primaries", len(addrs))
	httpjson.Write(w, http.StatusOK, api.FunctionsRestoreResult{Libraries: len(req.Libraries), Primaries: len(addrs)})
}

type sendError struct{ err error }

func (e *sendError) Error() string { return e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

// sendRestore sends one batch to the primary at addr.
func (m *Manager) sendRestore(ctx context.Context, addr string, batch []byte) (uint64, error) {
	resp, err := m.toPrimary(ctx, addr, backup.PathRestore, batch)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, fmt.Errorf("%s: reading the answer: %w", addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e api.ErrorBody
		if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
			return 0, fmt.Errorf("%s: %s", addr, e.Error.Message)
		}
		return 0, fmt.Errorf("%s: HTTP %d: %.200s", addr, resp.StatusCode, body)
	}
	var out backup.RestoreAnswer
	if err := json.Unmarshal(body, &out); err != nil {
		return 0, fmt.Errorf("%s: the answer: %w", addr, err)
	}
	return out.Keys, nil
}

// toPrimary POSTs body (nil: none) to path on the data instance at addr, presenting the
// operator token.
func (m *Manager) toPrimary(ctx context.Context, addr, path string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.dataURL(addr, path), rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	if err := opauth.Set(req, m.cfg.OperatorToken); err != nil {
		return nil, fmt.Errorf("presenting the operator token: %w", err)
	}
	return m.streamClient().Do(req)
}

// relayError passes a data instance's refusal on with its status and message.
func relayError(w http.ResponseWriter, resp *http.Response) {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e api.ErrorBody
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		httpjson.Error(w, resp.StatusCode, e.Error.Code, "%s", e.Error.Message)
		return
	}
	httpjson.Error(w, http.StatusBadGateway, api.CodeBadGateway, "the primary answered HTTP %d: %.200s", resp.StatusCode, body)
}
