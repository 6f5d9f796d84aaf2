package manager

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/insightgrid/insight/grid/config"
	"github.com/insightgrid/insight/grid/internal/httpjson"
	"github.com/insightgrid/insight/grid/registry"
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

// parseRate reads a request's "rate": bytes per second as a number or a size string
// ("4mb"); nil when absent.
func parseRate(raw json.RawMessage) (*int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err == nil {
		if n < 0 {
			return nil, fmt.Errorf("%d: want bytes per second, 0 (no limit) or more", n)
		}
		return &n, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%s: want bytes per second, a number or a size such as \"4mb\"", raw)
	}
	n, err := config.ParseBytes(s)
	if err != nil {
		return nil, err
	}
	return &n, nil
}

// maxPartitions bounds a re-partitioning request: one slot per partition at most.
const maxPartitions = 16384

// repartition is GET /v1/repartition (progress) and POST /v1/repartition
// {"partitions": N[, "rate": bytes per second]} (start re-partitioning to N partitions, or
// change the rate of the one in progress; 202 with the progress).
func (m *Manager) repartition(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		st, err := registry.Load(ctx, m.cli)
		if err == nil && st.Map == nil {
			err = errNoMap
		}
		if err != nil {
			m.writeStateError(w, err)
			return
		}
		out, err := m.repart.status(st)
		if err != nil {
			httpjson.Error(w, http.StatusInternalServerError, "Internal", "%v", err)
			return
		}
		httpjson.Write(w, http.StatusOK, out)
	case http.MethodPost:
		var req struct {
			Partitions *int            `json:"partitions"`
			Rate       json.RawMessage `json:"rate"`
		}
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			httpjson.Error(w, http.StatusBadRequest, "BadRequest", `request body: %v; want {"partitions": N} or {"partitions": N, "rate": "4mb"}`, err)
			return
		}
		if req.Partitions == nil || *req.Partitions < 1 || *req.Partitions > maxPartitions {
			got := "missing"
			if req.Partitions != nil {
				got = strconv.Itoa(*req.Partitions)
			}
			httpjson.Error(w, http.StatusBadRequest, "BadRequest", "partitions: %s; want a number of partitions between 1 and %d", got, maxPartitions)
			return
		}
		rate, err := parseRate(req.Rate)
		if err != nil {
			httpjson.Error(w, http.StatusBadRequest, "BadRequest", "rate: %v", err)
			return
		}
		if !m.hasLeader() {
			writeOpError(w, unavailable("etcd has no quorum: the partition map cannot change until a majority of the managers is back"))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
		defer cancel()
		out, oe := m.requestRepartition(ctx, *req.Partitions, rate)
		if oe != nil {
			writeOpError(w, oe)
			return
		}
		httpjson.Write(w, http.StatusAccepted, out)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		httpjson.Error(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "%s %s: only GET and POST are allowed", r.Method, r.URL.Path)
	}
}
