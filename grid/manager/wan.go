package manager

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/wan/hlc"
)

// pathWANStatus is a data instance's WAN state (grid/data/wan.go).
const pathWANStatus = "/v1/wan/status"

// wanFresh is how long one reading of the primaries' WAN state serves every overview: a
// primary counts a target's backlog over all its keys' metadata, so the UI's viewers,
// each refreshed every 2 s, must not each ask for that again.
const wanFresh = time.Second

// wanCache is the newest reading of the WAN state; its lock is held while a reading is
// taken, so concurrent overviews wait for it rather than ask the primaries too.
type wanCache struct {
	fresh time.Duration // wanFresh
	mu    sync.Mutex
	at    time.Time
	val   *api.WANOverview
}

// wanOverviewShared is wanOverview, read again only when the last reading is older than
// m.wan.fresh.
func (m *Manager) wanOverviewShared(ctx context.Context, parts []api.Partition) *api.WANOverview {
	c := &m.wan
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.val == nil || time.Since(c.at) >= c.fresh {
		c.val, c.at = m.wanOverview(ctx, parts), time.Now()
	}
	return c.val
}

// wanOverview reads every partition's primary's WAN state and sums it up per target site,
// as the site's gateway does for its own GET /v1/wan/status: a target's backlog is the
// sum of the partitions', its lag the largest, its last acknowledgement the oldest.
func (m *Manager) wanOverview(ctx context.Context, parts []api.Partition) *api.WANOverview {
	out := &api.WANOverview{Site: m.cfg.WANSite, Targets: []api.WANTarget{}, Unanswered: []api.WANPartition{}}
	sts := make([]*api.WANInstanceStatus, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		addr := ""
		for _, in := range p.Instances {
			if in.ID == p.Primary {
				addr = in.HTTPAddress
			}
		}
		if addr == "" {
			errs[i] = fmt.Errorf("primary %q is not registered", p.Primary)
			continue
		}
		wg.Go(func() { sts[i], errs[i] = m.instanceWAN(ctx, addr) })
	}
	wg.Wait()
	now := time.Now()
	byName := map[string]*api.WANTarget{}
	var names []string
	for i, p := range parts {
		if errs[i] != nil {
			out.Unanswered = append(out.Unanswered, api.WANPartition{Partition: p.ID, Primary: p.Primary, Error: errs[i].Error()})
			continue
		}
		for _, ts := range sts[i].Targets {
			t, ok := byName[ts.Site]
			if !ok {
				t = &api.WANTarget{Site: ts.Site, OutOfSyncPartitions: []int{}, Partitions: []api.WANPartition{}}
				byName[ts.Site], names = t, append(names, ts.Site)
			}
			row := api.WANPartition{Partition: p.ID, Primary: p.Primary, Backlog: ts.Backlog, OutOfSync: ts.OutOfSync}
			if ts.AckedHLC > 0 {
				row.LastAck = hlc.Time(ts.AckedHLC).UTC().Format("2006-01-02T15:04:05.000Z07:00")
				if ts.Backlog > 0 {
					row.LagSeconds = max(0, now.Sub(hlc.Time(ts.AckedHLC)).Seconds())
				}
			}
			t.Backlog += ts.Backlog
			t.LagSeconds = max(t.LagSeconds, row.LagSeconds)
			if row.OutOfSync {
				t.OutOfSyncPartitions = append(t.OutOfSyncPartitions, p.ID)
			}
			t.Partitions = append(t.Partitions, row)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		t := byName[n]
		// The oldest acknowledgement (the times have one width: they compare as
		// strings); "" when a partition has had none.
		for i, row := range t.Partitions {
			if row.LastAck == "" {
				t.LastAck = ""
				break
			}
			if i == 0 || row.LastAck < t.LastAck {
				t.LastAck = row.LastAck
			}
		}
		out.Targets = append(out.Targets, *t)
	}
	return out
}

// instanceWAN reads GET /v1/wan/status of the data instance whose HTTP port is addr.
func (m *Manager) instanceWAN(ctx context.Context, addr string) (*api.WANInstanceStatus, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.dataURL(addr, pathWANStatus), nil)
	if err != nil {
		return nil, err
	}
	resp, err := m.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading the WAN status of %s: %w", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the WAN status of %s: %w", addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e api.ErrorBody
		if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
			return nil, fmt.Errorf("WAN status of %s: HTTP %d: %s", addr, resp.StatusCode, e.Error.Message)
		}
		return nil, fmt.Errorf("WAN status of %s: HTTP %d", addr, resp.StatusCode)
	}
	var st api.WANInstanceStatus
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, fmt.Errorf("decoding the WAN status of %s: %w", addr, err)
	}
	return &st, nil
}
