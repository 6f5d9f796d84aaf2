package data

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/internal/httpjson"
	"github.com/insightgrid/insight/grid/server"
	"github.com/insightgrid/insight/grid/slots"
	"github.com/insightgrid/insight/grid/wan"
)

// The WAN endpoints of a data instance's HTTP port, which the site's WAN gateway calls
// on each partition's primary (package wan). The POSTs need the operator token.
const (
	pathWANStatus = "/v1/wan/status"
	pathWANPull   = "/v1/wan/pull"
	pathWANAck    = "/v1/wan/ack"
	pathWANApply  = "/v1/wan/apply"
)

// wanRoutes adds the WAN endpoints to mux.
func (in *instance) wanRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+pathWANStatus, func(w http.ResponseWriter, _ *http.Request) {
		if in.wan == nil {
			httpjson.Error(w, http.StatusNotFound, "NotFound", "WAN replication is off on this instance (no --wan-site)")
			return
		}
		st := in.wan.Status()
		httpjson.Write(w, http.StatusOK, struct {
			Partition int    `json:"partition"`
			Role      string `json:"role"`
			api.WANInstanceStatus
		}{in.cfg.Partition, in.node.Role(), st})
	})
	mux.HandleFunc("POST "+pathWANPull, func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Target string `json:"target"`
			Max    int    `json:"max"`
			WaitMS int    `json:"waitMs"` // with nothing to send, wait this long for a write
			// After is the delegator's cursor: the Upto of the last batch it pulled and
			// has not acknowledged yet (0: none, from the acknowledged timestamp).
			After uint64 `json:"after"`
		}
		if !in.wanRequest(w, r, &req) {
			return
		}
		if req.Max < 1 || req.Max > 100000 {
			httpjson.Error(w, http.StatusBadRequest, "BadRequest", "max %d: must be between 1 and 100000", req.Max)
			return
		}
		if req.WaitMS < 0 || req.WaitMS > 10000 {
			httpjson.Error(w, http.StatusBadRequest, "BadRequest", "waitMs %d: must be between 0 and 10000", req.WaitMS)
			return
		}
		written := in.wan.Written()
		b, err := in.wan.PullAfter(req.Target, req.Max, req.After, in.node.RecordWAN)
		if err == nil && len(b.Changes) == 0 && req.WaitMS > 0 {
			select {
			case <-written:
			case <-r.Context().Done():
			case <-time.After(time.Duration(req.WaitMS) * time.Millisecond):
			}
			b, err = in.wan.PullAfter(req.Target, req.Max, req.After, in.node.RecordWAN)
		}
		if err != nil {
			httpjson.Error(w, http.StatusBadRequest, "BadRequest", "%v", err)
			return
		}
		b.Partition, b.Cursor = in.cfg.Partition, true
		if wan.AcceptsBatchType(r.Header.Get("Accept")) {
			w.Header().Set("Content-Type", wan.BatchContentType)
			_, _ = w.Write(wan.AppendBatch(nil, &b))
			return
		}
		httpjson.Write(w, http.StatusOK, b)
	})
	mux.HandleFunc("POST "+pathWANAck, func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Target string `json:"target"`
			Upto   uint64 `json:"upto"`
		}
		if !in.wanRequest(w, r, &req) {
			return
		}
		if err := in.wan.Ack(req.Target, req.Upto, in.node.RecordWAN); err != nil {
			httpjson.Error(w, http.StatusBadRequest, "BadRequest", "%v", err)
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]uint64{"acked": req.Upto})
	})
	mux.HandleFunc("POST "+pathWANApply, in.wanApply)
	in.wanDigestRoutes(mux) // the repair's digests, entries and changes (wan_digest.go)
}

// wanServing reports whether the instance serves its partition with WAN on; false when
// it answered with an error.
func (in *instance) wanServing(w http.ResponseWriter) bool {
	if in.wan == nil {
		httpjson.Error(w, http.StatusNotFound, "NotFound", "WAN replication is off on this instance (no --wan-site)")
		return false
	}
	if redirect, msg := in.node.Admit(); redirect != "" || msg != "" {
		httpjson.Error(w, http.StatusConflict, "NotPrimary", "partition %d is not served here (%s%s)", in.cfg.Partition, redirect, msg)
		return false
	}
	return true
}

// wanRequest decodes a WAN request into v once the instance serves its partition with
// WAN on; false when it answered with an error.
func (in *instance) wanRequest(w http.ResponseWriter, r *http.Request, v any) bool {
	if !in.wanServing(w) {
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 512<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		httpjson.Error(w, http.StatusBadRequest, "BadRequest", "request body: %v", err)
		return false
	}
	return true
}

// wanApply applies another site's changes by their keys' policies and answers once the
// backup has them too. The changes come as JSON or, from a gateway that learned from
// Accept-Post that this instance takes it, as a batch in the binary framing.
func (in *instance) wanApply(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Accept-Post", wan.BatchContentType+", application/json")
	var req struct {
		Changes  []wan.Change `json:"changes"`
		Policies string       `json:"policies"` // the sending site's policies' fingerprint
	}
	if wan.IsBatchType(r.Header.Get("Content-Type")) {
		if !in.wanServing(w) {
			return
		}
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 512<<20))
		var b wan.Batch
		if err == nil {
			b, err = wan.DecodeBatch(data)
		}
		if err != nil {
			httpjson.Error(w, http.StatusBadRequest, "BadRequest", "request body: %v", err)
			return
		}
		req.Changes, req.Policies = b.Changes, b.Policies
	} else if !in.wanRequest(w, r, &req) {
		return
	}
	if len(req.Changes) > 0 {
		if err := in.wan.CheckPolicies(req.Changes[0].Site, req.Policies); err != nil {
			httpjson.Error(w, http.StatusConflict, "PolicyMismatch", "%v", err)
			return
		}
	}
	for _, c := range req.Changes {
		if err := in.wan.CheckChange(c); err != nil {
			httpjson.Error(w, http.StatusBadRequest, "BadRequest", "%v", err)
			return
		}
	}
	v := in.srv.View()
	applied, stale := 0, 0
	for _, c := range req.Changes {
		if v == nil {
			httpjson.Error(w, http.StatusServiceUnavailable, "Unavailable", "no routing view yet")
			return
		}
		if o := v.Owner(slots.Of(c.Key)); o == nil || o.ID != in.cfg.Partition {
			httpjson.Error(w, http.StatusConflict, "WrongPartition", "key %q is not in a slot of partition %d", c.Key, in.cfg.Partition)
			return
		}
		ok, err := in.wan.ApplyRemote(c, in.srv.Exclusive, in.node.RecordWAN)
		if err != nil {
			httpjson.Error(w, http.StatusInternalServerError, "ApplyFailed", "%v", err)
			return
		}
		if ok {
			applied++
		} else {
			stale++
		}
	}
	if !in.node.Wait(in.node.Barrier(true, -1)) {
		httpjson.Error(w, http.StatusServiceUnavailable, "NotReplicated", "partition %d lost its primary role before its backup had the changes", in.cfg.Partition)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]int{"applied": applied, "stale": stale})
}

// wanReplication holds the replies to writes while the outbox is at its bound (block
// mode); everything else is the partition's replication.
type wanReplication struct {
	server.Replication
	t *wan.Tracker
}

func (r wanReplication) Barrier(write bool, slot int) uint64 {
	if write {
		r.t.WaitRoom()
	}
	return r.Replication.Barrier(write, slot)
}

// collectTombstones forgets old tombstones every interval until ctx ends.
func collectTombstones(ctx context.Context, t *wan.Tracker, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			t.CollectTombstones()
		}
	}
}

// registerWANMetrics exports the tracker's state as insight_wan_* metrics.
func registerWANMetrics(reg prometheus.Registerer, t *wan.Tracker) {
	reg.MustRegister(wanCollector{t})
}

type wanCollector struct{ t *wan.Tracker }

var (
	wanBacklog   = prometheus.NewDesc("insight_wan_backlog_keys", "Keys written here that the target site has not acknowledged (this partition).", []string{"target"}, nil)
	wanAcked     = prometheus.NewDesc("insight_wan_acked_hlc_seconds", "Wall time of the newest local write the target site has applied everything up to.", []string{"target"}, nil)
	wanOutOfSync = prometheus.NewDesc("insight_wan_out_of_sync", "1 while this partition is out of sync with the target site (being resynchronized).", []string{"target"}, nil)
	wanMarked    = prometheus.NewDesc("insight_wan_marked_out_of_sync_total", "Times the full outbox marked this partition out of sync with the target site.", []string{"target"}, nil)
	wanOutbox    = prometheus.NewDesc("insight_wan_outbox_keys", "Keys the outbox holds for the in-sync target sites.", nil, nil)
	wanMeta      = prometheus.NewDesc("insight_wan_meta_keys", "Keys with WAN metadata, tombstones included.", nil, nil)
	wanUnsupp    = prometheus.NewDesc("insight_wan_unsupported_total", "Local writes not replicated because the key's merge policy cannot take them (by policy).", []string{"policy"}, nil)
	wanFlushes   = prometheus.NewDesc("insight_wan_flushes_total", "Flushes of slots (FLUSHALL, FLUSHDB), which are not replicated.", nil, nil)
	wanBlocked   = prometheus.NewDesc("insight_wan_blocked_writes_total", "Write replies that waited for room in the full outbox (block mode).", nil, nil)
	wanApplied   = prometheus.NewDesc("insight_wan_applied_total", "Changes from other sites applied here.", nil, nil)
	wanStale     = prometheus.NewDesc("insight_wan_stale_total", "Changes from other sites not applied: the key held a write that wins by its policy, or the merge added nothing (a change delivered again).", nil, nil)
)

func (c wanCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{wanBacklog, wanAcked, wanOutOfSync, wanMarked, wanOutbox, wanMeta, wanUnsupp, wanFlushes, wanBlocked, wanApplied, wanStale} {
		ch <- d
	}
}

func (c wanCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.t.Status()
	for _, tg := range st.Targets {
		ch <- prometheus.MustNewConstMetric(wanBacklog, prometheus.GaugeValue, float64(tg.Backlog), tg.Site)
		ch <- prometheus.MustNewConstMetric(wanAcked, prometheus.GaugeValue, float64(tg.AckedHLC>>16)/1000, tg.Site)
		ch <- prometheus.MustNewConstMetric(wanOutOfSync, prometheus.GaugeValue, b2f(tg.OutOfSync), tg.Site)
		ch <- prometheus.MustNewConstMetric(wanMarked, prometheus.CounterValue, float64(tg.MarkedOutOfSync), tg.Site)
	}
	ch <- prometheus.MustNewConstMetric(wanOutbox, prometheus.GaugeValue, float64(st.Outbox))
	ch <- prometheus.MustNewConstMetric(wanMeta, prometheus.GaugeValue, float64(st.MetaKeys))
	for k, n := range st.Unsupported {
		ch <- prometheus.MustNewConstMetric(wanUnsupp, prometheus.CounterValue, float64(n), k)
	}
	ch <- prometheus.MustNewConstMetric(wanFlushes, prometheus.CounterValue, float64(st.Flushes))
	ch <- prometheus.MustNewConstMetric(wanBlocked, prometheus.CounterValue, float64(st.BlockedWrites))
	ch <- prometheus.MustNewConstMetric(wanApplied, prometheus.CounterValue, float64(st.Applied))
	ch <- prometheus.MustNewConstMetric(wanStale, prometheus.CounterValue, float64(st.Stale))
}

// wanMover is the server as the re-partitioning's mover sees it: while it holds a slot
// to move its keys out, their deletions here are not WAN deletions (Tracker.MovingOut).
type wanMover struct {
	*server.Server
	t *wan.Tracker
}

func (m wanMover) LockSlot(slot int) (unlock func()) {
	u := m.Server.LockSlot(slot)
	m.t.MovingOut(slot, true)
	return func() {
		m.t.MovingOut(slot, false)
		u()
	}
}
