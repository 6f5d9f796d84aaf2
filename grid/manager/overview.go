package manager

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/internal/httpjson"
	"github.com/insightgrid/insight/grid/internal/opauth"
	"github.com/insightgrid/insight/grid/registry"
	"github.com/insightgrid/insight/grid/ui"
)

// eventsRefresh is how often /v1/events sends the overview when etcd does not change:
// the instances' keys, memory and offsets move without any change in etcd.
const eventsRefresh = 2 * time.Second

// handler is the API port's handler: the API behind the operator-token guard, with the
// web UI in front of it when --ui is on.
func (m *Manager) handler() http.Handler {
	routes := m.routes()
	guarded := opauth.Guard(m.cfg.OperatorToken, m.log, routes)
	if !m.cfg.UI {
		return guarded
	}
	cfg := ui.Config{ReadOnly: m.cfg.UIReadOnly, Log: m.log}
	if m.cfg.OperatorToken != nil {
		cfg.Token = m.cfg.OperatorToken.Token
	}
	return ui.Wrap(cfg, guarded, routes)
}

// overview reads the whole picture of GET /v1/overview.
func (m *Manager) overview(ctx context.Context) (*api.Overview, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	out := &api.Overview{ReadOnly: m.cfg.UIReadOnly, Alerts: []api.Alert{}}
	var wg sync.WaitGroup
	var perr error
	wg.Go(func() { out.Partitions, perr = m.partitions(ctx) })
	out.Cluster = m.cluster(ctx)
	wg.Wait()
	if perr != nil {
		return nil, perr
	}
	if m.cfg.WANSite != "" {
		out.WAN = m.wanOverviewShared(ctx, out.Partitions)
	}
	if st, err := registry.Load(ctx, m.cli); err == nil && st.Map != nil {
		if rs, err := m.repart.status(st); err == nil {
			out.Repartition = &rs
		}
	}
	out.Alerts = m.alerts(out)
	out.Time = time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00")
	return out, nil
}

// alerts are the conditions the manager sees in o: etcd, the managers, every
// partition's copies, a stalled re-partitioning, a WAN site's partitions out of sync
// or without WAN status.
func (m *Manager) alerts(o *api.Overview) []api.Alert {
	out := []api.Alert{}
	add := func(sev, subj, format string, a ...any) {
		out = append(out, api.Alert{Severity: sev, Subject: subj, Message: fmt.Sprintf(format, a...)})
	}
	if !o.Cluster.Etcd.Quorum {
		add("critical", "etcd", "etcd has no quorum: no failover and no change of the partition map until a majority of the managers is back")
	}
	for _, mg := range o.Cluster.Managers {
		if !mg.Healthy {
			add("warning", mg.Name, "manager %s does not answer its health check", mg.Name)
		}
	}
	for _, p := range o.Partitions {
		subj := fmt.Sprintf("partition %d", p.ID)
		var primary, backup *api.Instance
		for i := range p.Instances {
			switch p.Instances[i].ID {
			case p.Primary:
				primary = &p.Instances[i]
			case p.Backup:
				backup = &p.Instances[i]
			}
		}
		switch {
		case primary == nil || !primary.Ready:
			add("critical", subj, "primary %s is not ready: the partition's slots are not served", p.Primary)
		case o.Cluster.HA && p.Backup != "" && !p.InSync:
			add("warning", subj, "backup %s is not in sync: a failure of %s now would need a reset", p.Backup, p.Primary)
		}
		if o.Cluster.HA && p.Backup != "" && (backup == nil || !backup.Ready) && primary != nil && primary.Ready {
			add("warning", subj, "backup %s is not ready", p.Backup)
		}
	}
	if o.WAN != nil {
		for _, t := range o.WAN.Targets {
			if len(t.OutOfSyncPartitions) > 0 {
				add("warning", "WAN site "+t.Site, "partitions %v out of sync: their outbox lost changes for %s, which are being resynchronized from the key metadata", t.OutOfSyncPartitions, t.Site)
			}
		}
		for _, u := range o.WAN.Unanswered {
			add("warning", fmt.Sprintf("partition %d", u.Partition), "no WAN status: %s", u.Error)
		}
	}
	if s := m.repart.progress.stalled(time.Now()); s >= 60 {
		add("warning", "re-partitioning", "no progress for %.0f s", s)
	}
	return out
}

// cluster reads GET /v1/cluster's document.
func (m *Manager) cluster(ctx context.Context) api.Cluster {
	rec := &captureWriter{header: http.Header{}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api.PathCluster, nil)
	m.getCluster(rec, req)
	var c api.Cluster
	_ = json.Unmarshal(rec.body, &c)
	return c
}

// captureWriter keeps what a handler writes.
type captureWriter struct {
	header http.Header
	body   []byte
	status int
}

func (c *captureWriter) Header() http.Header { return c.header }
func (c *captureWriter) WriteHeader(s int)   { c.status = s }
func (c *captureWriter) Write(b []byte) (int, error) {
	c.body = append(c.body, b...)
	return len(b), nil
}

func (m *Manager) getOverview(w http.ResponseWriter, r *http.Request) {
	o, err := m.overview(r.Context())
	if err != nil {
		m.writeStateError(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, o)
}

// getEvents is GET /v1/events: the overview as server-sent events, at once, on every
// change under the cluster state's prefix in etcd (a record's epoch, an instance's
// registration, the map), and every m.eventsEvery.
func (m *Manager) getEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		httpjson.Error(w, http.StatusInternalServerError, api.CodeInternal, "this connection cannot stream events")
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	wch := registry.StateChanges(ctx, m.cli)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	tick := time.NewTicker(m.eventsEvery)
	defer tick.Stop()
	send := func() bool {
		o, err := m.overview(ctx)
		var b []byte
		ev := "overview"
		if err != nil {
			ev = "problem"
			b, _ = json.Marshal(api.ErrorDetail{Code: api.CodeUnavailable, Message: err.Error()})
		} else {
			b, _ = json.Marshal(o)
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev, b); err != nil {
			return false
		}
		fl.Flush()
		return true
	}
	if !send() {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.eventsStop:
			return
		case _, ok := <-wch:
			if !ok {
				// The watch ended: go on with the periodic refresh alone.
				wch = nil
			}
			// Changes come in bursts (a failover writes the record, then registrations):
			// one send covers what arrived meanwhile.
			wch = drain(wch)
			tick.Reset(m.eventsEvery)
			if !send() {
				return
			}
		case <-tick.C:
			if !send() {
				return
			}
		}
	}
}
