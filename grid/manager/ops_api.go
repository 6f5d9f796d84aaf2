package manager

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/insightgrid/insight/grid/internal/httpjson"
)

// post wraps a handler that changes state: other methods get a JSON 405.
func post(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			httpjson.Error(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "%s %s: only POST is allowed", r.Method, r.URL.Path)
			return
		}
		h(w, r)
	}
}

func writeOpError(w http.ResponseWriter, oe *opError) {
	httpjson.Error(w, oe.status, oe.code, "%s", oe.msg)
}

// writeRaw answers 200 with a JSON document received from elsewhere, indented like ours.
func writeRaw(w http.ResponseWriter, raw json.RawMessage) {
	httpjson.Write(w, http.StatusOK, raw)
}

// postFailover is POST /v1/partitions/{id}/failover: a planned switch-over to the in-sync backup.
func (m *Manager) postFailover(w http.ResponseWriter, r *http.Request) {
	serveSwitch(w, r, m.failover)
}

// postFailback is POST /v1/partitions/{id}/failback: back to the preferred primary.
func (m *Manager) postFailback(w http.ResponseWriter, r *http.Request) {
	serveSwitch(w, r, m.failback)
}

// serveSwitch answers a switch-over request for partition {id}: op's result JSON, or its
// error.
func serveSwitch(w http.ResponseWriter, r *http.Request, op func(context.Context, int) (json.RawMessage, *opError)) {
	id, ok := partitionID(w, r)
	if !ok {
		return
	}
	out, oe := op(r.Context(), id)
	if oe != nil {
		writeOpError(w, oe)
		return
	}
	writeRaw(w, out)
}

// postReset is POST /v1/partitions/{id}/reset?confirm={id}[&primary=pP-iI]: accept the
// loss of the writes only a lost copy held and serve again from the preferred primary, or
// from the instance named by primary (a surviving copy that holds more than the other).
func (m *Manager) postReset(w http.ResponseWriter, r *http.Request) {
	id, ok := partitionID(w, r)
	if !ok {
		return
	}
	raw := r.PathValue("id")
	if c := r.URL.Query().Get("confirm"); c != raw {
		httpjson.Error(w, http.StatusBadRequest, "BadRequest",
			"confirm=%q: resetting partition %d makes its preferred primary serve again and accepts that writes only a lost copy held are gone; to do it, repeat with ?confirm=%s",
			c, id, raw)
		return
	}
	res, oe := m.reset(r.Context(), id, r.URL.Query().Get("primary"))
	if oe != nil {
		writeOpError(w, oe)
		return
	}
	httpjson.Write(w, http.StatusOK, res)
}
