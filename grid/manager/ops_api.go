package manager

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/internal/httpjson"
	"github.com/insightgrid/insight/grid/registry"
)

// post wraps a handler that changes state: other methods get a JSON 405.
func post(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			httpjson.Error(w, http.StatusMethodNotAllowed, api.CodeMethodNotAllowed, "%s %s: only POST is allowed", r.Method, r.URL.Path)
			return
		}
		h(w, r)
	}
}

func writeOpError(w http.ResponseWriter, oe *opError) {
	httpjson.Error(w, oe.status, oe.code, "%s", oe.msg)
}

// postFailover is POST /v1/partitions/{id}/failover: a planned switch-over to the in-sync backup.
func (m *Manager) postFailover(w http.ResponseWriter, r *http.Request) {
	serveSwitch(w, r, m.failover)
}

// postFailback is POST /v1/partitions/{id}/failback: back to the preferred primary.
func (m *Manager) postFailback(w http.ResponseWriter, r *http.Request) {
	serveSwitch(w, r, m.failback)
}

// serveSwitch answers a switch-over request for partition {id}: op's result, or its
// error.
func serveSwitch(w http.ResponseWriter, r *http.Request, op func(context.Context, int) (*api.SwitchResult, *opError)) {
	id, ok := partitionID(w, r)
	if !ok {
		return
	}
	out, oe := op(r.Context(), id)
	if oe != nil {
		writeOpError(w, oe)
		return
	}
	httpjson.Write(w, http.StatusOK, out)
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
		httpjson.Error(w, http.StatusBadRequest, api.CodeBadRequest,
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

// loadMapped reads the cluster state for a GET, answering the error itself (false) when
// etcd cannot be read or holds no partition map yet.
func (m *Manager) loadMapped(w http.ResponseWriter, r *http.Request) (*cluster.State, bool) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	st, err := registry.Load(ctx, m.cli)
	if err == nil && st.Map == nil {
		err = errNoMap
	}
	if err != nil {
		m.writeStateError(w, err)
		return nil, false
	}
	return st, true
}

// changeMap runs a request that changes the partition map, when etcd has a quorum, and
// answers 202 with its progress.
func changeMap[T any](m *Manager, w http.ResponseWriter, r *http.Request, change func(context.Context) (T, *opError)) {
	if !m.hasLeader() {
		writeOpError(w, unavailable("etcd has no quorum: the partition map cannot change until a majority of the managers is back"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
	defer cancel()
	out, oe := change(ctx)
	if oe != nil {
		writeOpError(w, oe)
		return
	}
	httpjson.Write(w, http.StatusAccepted, out)
}

// repartition is GET /v1/repartition (progress) and POST /v1/repartition
// {"partitions": N[, "rate": bytes per second]} (start re-partitioning to N partitions, or
// change the rate of the one in progress; 202 with the progress).
func (m *Manager) repartition(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		st, ok := m.loadMapped(w, r)
		if !ok {
			return
		}
		out, err := m.repart.status(st)
		if err != nil {
			httpjson.Error(w, http.StatusInternalServerError, api.CodeInternal, "%v", err)
			return
		}
		httpjson.Write(w, http.StatusOK, out)
	case http.MethodPost:
		var req api.RepartitionRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			var re *api.RateError
			if errors.As(err, &re) {
				httpjson.Error(w, http.StatusBadRequest, api.CodeBadRequest, "%v", re)
				return
			}
			httpjson.Error(w, http.StatusBadRequest, api.CodeBadRequest, `request body: %v; want {"partitions": N} or {"partitions": N, "rate": "4mb"}`, err)
			return
		}
		if req.Partitions == nil || *req.Partitions < 1 || *req.Partitions > api.MaxPartitions {
			got := "missing"
			if req.Partitions != nil {
				got = strconv.Itoa(*req.Partitions)
			}
			httpjson.Error(w, http.StatusBadRequest, api.CodeBadRequest, "partitions: %s; want a number of partitions between 1 and %d", got, api.MaxPartitions)
			return
		}
		changeMap(m, w, r, func(ctx context.Context) (api.RepartitionStatus, *opError) {
			return m.requestRepartition(ctx, *req.Partitions, req.Rate)
		})
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		httpjson.Error(w, http.StatusMethodNotAllowed, api.CodeMethodNotAllowed, "%s %s: only GET and POST are allowed", r.Method, r.URL.Path)
	}
}

// haHandler is GET /v1/ha (the HA setting and how far the partitions are) and POST
// /v1/ha {"ha": true|false} (add or remove every partition's backup; 202 with the
// progress).
func (m *Manager) haHandler(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		st, ok := m.loadMapped(w, r)
		if !ok {
			return
		}
		httpjson.Write(w, http.StatusOK, m.ha.status(st))
	case http.MethodPost:
		var req api.HARequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil || req.HA == nil {
			msg := "ha is missing"
			if err != nil {
				msg = err.Error()
			}
			httpjson.Error(w, http.StatusBadRequest, api.CodeBadRequest, `request body: %s; want {"ha": true} or {"ha": false}`, msg)
			return
		}
		changeMap(m, w, r, func(ctx context.Context) (api.HAStatus, *opError) { return m.ha.setHA(ctx, *req.HA) })
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		httpjson.Error(w, http.StatusMethodNotAllowed, api.CodeMethodNotAllowed, "%s %s: only GET and POST are allowed", r.Method, r.URL.Path)
	}
}
