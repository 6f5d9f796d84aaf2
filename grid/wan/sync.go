package wan

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/internal/httpjson"
	"github.com/insightgrid/insight/grid/slots"
)

// The repair of a target site by digests (anti-entropy): the gateway compares its site's
// per-slot digests with the target's, lists the keys' metadata of the slots that differ
// at both, and sends every write this site holds that the target lacks or holds older
// (by last-writer-wins), tombstones included, through the sink like any batch. It is one
// way, "push what I have better"; a gateway that starts asks each target to repair it
// back, so a site joining, or coming back empty, is repaired both ways.

// The gateway's repair endpoints besides api.PathWANSync, which starts a repair (the
// site's operator token): PathDigests and PathEntries serve another site's gateway
// repairing this one (this site's operator token, as PathBatch).
const (
	PathDigests = "/v1/wan/digests"
	PathEntries = "/v1/wan/entries"
)

// repairTime is how a repair's times show in its api.WANRepair: RFC 3339, milliseconds.
const repairTime = "2006-01-02T15:04:05.000Z07:00"

// repairsKept is how many finished repairs the status keeps, newest last.
const repairsKept = 16

// repairs is the gateway's repairs: the running ones and the last finished.
type repairs struct {
	mu   sync.Mutex
	seq  int64
	runs []*api.WANRepair
}

// begin registers a repair of target, or returns the running one's id.
func (r *repairs) begin(target string) (rs *api.WANRepair, running int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.runs {
		if x.Target == target && x.State == api.WANRepairRunning {
			return nil, x.ID
		}
	}
	r.seq++
	rs = &api.WANRepair{Target: target, ID: r.seq, State: api.WANRepairRunning, Started: time.Now().UTC().Format(repairTime)}
	r.runs = append(r.runs, rs)
	if n := len(r.runs); n > repairsKept {
		// Drop the oldest finished ones; the running ones stay.
		keep := r.runs[:0]
		for i, x := range r.runs {
			if x.State == api.WANRepairRunning || i >= n-repairsKept {
				keep = append(keep, x)
			}
		}
		r.runs = keep
	}
	return rs, 0
}

// update changes rs under the lock.
func (r *repairs) update(rs *api.WANRepair, fn func(*api.WANRepair)) {
	r.mu.Lock()
	fn(rs)
	r.mu.Unlock()
}

// list is a copy of the repairs, oldest first.
func (r *repairs) list() []api.WANRepair {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]api.WANRepair, 0, len(r.runs))
	for _, x := range r.runs {
		out = append(out, *x)
	}
	return out
}

// syncRoutes adds the repair endpoints to mux; the repairs they start run until ctx ends.
func (g *Gateway) syncRoutes(ctx context.Context, mux *http.ServeMux) {
	mux.HandleFunc("POST "+api.PathWANSync, func(w http.ResponseWriter, r *http.Request) {
		var req api.WANSyncRequest
		if !decodeStrict(w, r, &req) {
			return
		}
		t, ok := g.target(req.Target)
		if !ok {
			httpjson.Error(w, http.StatusBadRequest, "BadRequest", "target %q: not a target site of this gateway (targets: %s)", req.Target, strings.Join(g.targetNames(), ", "))
			return
		}
		rs, running := g.startRepair(ctx, t)
		if rs == nil {
			httpjson.Error(w, http.StatusConflict, "Running", "a repair of site %s is running (id %d)", t.Name, running)
			return
		}
		httpjson.Write(w, http.StatusAccepted, api.WANRepairStarted{Target: t.Name, ID: rs.ID, State: api.WANRepairRunning})
	})
	mux.HandleFunc("POST "+PathDigests, func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Site string `json:"site"` // the gateway asking
		}
		if !decodeStrict(w, r, &req) || !g.otherSite(w, req.Site) {
			return
		}
		d, err := g.siteDigests(r.Context())
		if err != nil {
			httpjson.Error(w, http.StatusServiceUnavailable, "Unavailable", "site %s's digests: %v", g.cfg.Site, err)
			return
		}
		writeGzipJSON(w, r, map[string]any{"site": g.cfg.Site, "digests": d})
	})
	mux.HandleFunc("POST "+PathEntries, func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Site  string `json:"site"`
			Slots []int  `json:"slots"`
		}
		if !decodeStrict(w, r, &req) || !g.otherSite(w, req.Site) {
			return
		}
		for _, s := range req.Slots {
			if s < 0 || s >= slots.Count {
				httpjson.Error(w, http.StatusBadRequest, "BadRequest", "slot %d: want 0 to %d", s, slots.Count-1)
				return
			}
		}
		e, err := g.siteEntries(r.Context(), req.Slots)
		if err != nil {
			httpjson.Error(w, http.StatusServiceUnavailable, "Unavailable", "site %s's entries: %v", g.cfg.Site, err)
			return
		}
		writeGzipJSON(w, r, map[string]any{"site": g.cfg.Site, "entries": e})
	})
}

// decodeStrict decodes the request body into v, refusing unknown fields; false when it
// answered with an error.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		httpjson.Error(w, http.StatusBadRequest, "BadRequest", "request body: %v", err)
		return false
	}
	return true
}

// otherSite checks the name of the site asking; false when it answered with an error.
func (g *Gateway) otherSite(w http.ResponseWriter, site string) bool {
	if err := CheckSite(site); err != nil {
		httpjson.Error(w, http.StatusBadRequest, "BadRequest", "site %v", err)
		return false
	}
	if site == g.cfg.Site {
		httpjson.Error(w, http.StatusBadRequest, "BadRequest", "request from site %q, which is this site", site)
		return false
	}
	return true
}

// writeGzipJSON sends v as JSON, gzip-compressed when the client accepts it (Go's
// transport asks for it and decompresses on its own).
func writeGzipJSON(w http.ResponseWriter, r *http.Request, v any) {
	w.Header().Set("Content-Type", "application/json")
	if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		w.WriteHeader(http.StatusOK)
		_ = json.NewEncoder(w).Encode(v)
		return
	}
	w.Header().Set("Content-Encoding", "gzip")
	w.WriteHeader(http.StatusOK)
	zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed) // a valid level: no error
	_ = json.NewEncoder(zw).Encode(v)
	_ = zw.Close()
}

func (g *Gateway) target(name string) (GatewayTarget, bool) {
	for _, t := range g.cfg.Targets {
		if t.Name == name {
			return t, true
		}
	}
	return GatewayTarget{}, false
}

func (g *Gateway) targetNames() []string {
	var out []string
	for _, t := range g.cfg.Targets {
		out = append(out, t.Name)
	}
	return out
}

// startRepair starts a repair of t, unless one runs (nil and its id).
func (g *Gateway) startRepair(ctx context.Context, t GatewayTarget) (*api.WANRepair, int64) {
	rs, running := g.rep.begin(t.Name)
	if rs == nil {
		return nil, running
	}
	go g.runRepair(ctx, t, rs)
	return rs, 0
}

// runRepair runs the repair rs of t to its end and records how it ended.
func (g *Gateway) runRepair(ctx context.Context, t GatewayTarget, rs *api.WANRepair) {
	start := time.Now()
	err := g.repair(ctx, t, rs)
	g.rep.update(rs, func(rs *api.WANRepair) {
		rs.Finished = time.Now().UTC().Format(repairTime)
		rs.State = api.WANRepairDone
		if err != nil {
			rs.State, rs.Error = api.WANRepairFailed, err.Error()
		}
	})
	if err != nil {
		g.log.Info("WAN repair failed", "target", t.Name, "id", rs.ID, "err", err)
		return
	}
	x := g.repairOf(rs.ID)
	g.log.Info("WAN repair done", "target", t.Name, "id", rs.ID, "slotsCompared", x.SlotsCompared,
		"slotsDiffering", x.SlotsDiffering, "keysSent", x.KeysSent, "took", time.Since(start).String())
}

// repairEntries bounds the keys' metadata one request lists: the differing slots are
// compared in groups holding about this many keys.
const repairEntries = 20000

// repair sends t every write this site holds that t lacks or holds older.
func (g *Gateway) repair(ctx context.Context, t GatewayTarget, rs *api.WANRepair) error {
	var l link
	defer l.drop()
	var their struct {
		Digests []SiteDigest `json:"digests"`
	}
	if err := g.call(ctx, t, &l, PathDigests, map[string]any{"site": g.cfg.Site}, &their); err != nil {
		return fmt.Errorf("site %s's digests: %w", t.Name, err)
	}
	mine, err := g.siteDigests(ctx)
	if err != nil {
		return fmt.Errorf("this site's digests: %w", err)
	}
	diff := DiffSlots(mine, their.Digests)
	compared := map[int]bool{}
	keys := map[int]int{}
	for _, d := range mine {
		compared[d.Slot], keys[d.Slot] = true, d.Keys
	}
	for _, d := range their.Digests {
		compared[d.Slot], keys[d.Slot] = true, max(keys[d.Slot], d.Keys)
	}
	g.rep.update(rs, func(rs *api.WANRepair) { rs.SlotsCompared, rs.SlotsDiffering = len(compared), len(diff) })
	skipped := 0
	for len(diff) > 0 {
		n, size := 0, 0
		for n < len(diff) && (n == 0 || size+keys[diff[n]] <= repairEntries) {
			size += keys[diff[n]]
			n++
		}
		group := diff[:n]
		diff = diff[n:]
		var theirs struct {
			Entries []Entry `json:"entries"`
		}
		if err := g.call(ctx, t, &l, PathEntries, map[string]any{"site": g.cfg.Site, "slots": group}, &theirs); err != nil {
			return fmt.Errorf("site %s's keys of %d slots: %w", t.Name, len(group), err)
		}
		mine, err := g.siteEntries(ctx, group)
		if err != nil {
			return fmt.Errorf("this site's keys of %d slots: %w", len(group), err)
		}
		better, sk := Better(mine, theirs.Entries, t.Name)
		skipped += sk
		for len(better) > 0 {
			part := better[:min(len(better), g.cfg.BatchKeys)]
			better = better[len(part):]
			changes, policies, err := g.siteChanges(ctx, part)
			if err != nil {
				return fmt.Errorf("this site's values of %d keys: %w", len(part), err)
			}
			if len(changes) == 0 {
				continue
			}
			if err := g.send(ctx, t, &l, Batch{Site: g.cfg.Site, Partition: -1, Changes: changes, Policies: policies}); err != nil {
				return err
			}
			g.rep.update(rs, func(rs *api.WANRepair) { rs.KeysSent += int64(len(changes)) })
		}
	}
	if skipped > 0 {
		// The target made these writes; it refuses them from another site. It holds
		// older ones only if it lost its data (a site in memory restarted).
		g.log.Info("WAN repair: writes made at the target not sent back to it", "target", t.Name, "keys", skipped)
	}
	return nil
}

// call POSTs in to path at t's gateway with t's token and decodes the answer into out.
func (g *Gateway) call(ctx context.Context, t GatewayTarget, l *link, path string, in, out any) (err error) {
	if err := l.open(t); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			l.drop()
		}
	}()
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encoding the request: %w", err)
	}
	scheme := "https"
	if t.CAFile == "" {
		scheme = "http"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, scheme+"://"+t.Address+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("request to site %s: %w", t.Name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if l.tok != "" {
		req.Header.Set("Authorization", "Bearer "+l.tok)
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		return fmt.Errorf("site %s's gateway at %s: %w", t.Name, t.Address, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return &statusError{code: resp.StatusCode, msg: fmt.Sprintf("site %s's gateway answered %s: %s", t.Name, resp.Status, bytes.TrimSpace(msg))}
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("site %s's answer to %s: %w", t.Name, path, err)
	}
	return nil
}

// statusError is a gateway's answer other than a success.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string { return e.msg }

// owners is the partition owning each slot in parts (-1: none).
func owners(parts []api.Partition) []int {
	owner := make([]int, slots.Count)
	for i := range owner {
		owner[i] = -1
	}
	for _, p := range parts {
		for _, rg := range p.Slots {
			for s := rg[0]; s <= rg[1] && s < slots.Count; s++ {
				owner[s] = p.ID
			}
		}
	}
	return owner
}

// eachOwner calls fn with each partition's primary and its slots of ids, in partition
// order; a slot without an owner or a partition without a primary is an error.
func (g *Gateway) eachOwner(ctx context.Context, ids []int, fn func(prim *api.Client, p int, ids []int) error) error {
	parts, err := g.partitions(ctx, true)
	if err != nil {
		return err
	}
	owner := owners(parts)
	byPart := map[int][]int{}
	for _, s := range ids {
		if owner[s] < 0 {
			return fmt.Errorf("slot %d has no partition in the site's map", s)
		}
		byPart[owner[s]] = append(byPart[owner[s]], s)
	}
	ps := make([]int, 0, len(byPart))
	for p := range byPart {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	for _, p := range ps {
		prim := g.primary(parts, p)
		if prim == nil {
			return fmt.Errorf("partition %d has no primary", p)
		}
		if err := fn(prim, p, byPart[p]); err != nil {
			return fmt.Errorf("partition %d: %w", p, err)
		}
	}
	return nil
}

// siteDigests gathers the site's per-slot digests from its primaries, each for its slots.
func (g *Gateway) siteDigests(ctx context.Context) ([]SiteDigest, error) {
	out := []SiteDigest{}
	all := make([]int, slots.Count)
	for i := range all {
		all[i] = i
	}
	err := g.eachOwner(ctx, all, func(prim *api.Client, _ int, ids []int) error {
		var res struct {
			Digests []SiteDigest `json:"digests"`
		}
		if err := prim.Do(ctx, http.MethodPost, "/v1/wan/digests", map[string]any{"slots": ranges(ids)}, &res); err != nil {
			return err
		}
		out = append(out, res.Digests...)
		return nil
	})
	return out, err
}

// siteEntries gathers the keys' metadata of slots ids from their primaries.
func (g *Gateway) siteEntries(ctx context.Context, ids []int) ([]Entry, error) {
	out := []Entry{}
	err := g.eachOwner(ctx, ids, func(prim *api.Client, _ int, ids []int) error {
		var res struct {
			Entries []Entry `json:"entries"`
		}
		if err := prim.Do(ctx, http.MethodPost, "/v1/wan/entries", map[string]any{"slots": ids}, &res); err != nil {
			return err
		}
		out = append(out, res.Entries...)
		return nil
	})
	return out, err
}

// siteChanges reads the values of the writes want names from their primaries, and the
// fingerprint of the site's policies the batch carries.
func (g *Gateway) siteChanges(ctx context.Context, want []Entry) ([]Change, string, error) {
	bySlot := map[int][]Entry{}
	ids := []int{}
	for _, e := range want {
		s := slots.Of(e.Key)
		if bySlot[s] == nil {
			ids = append(ids, s)
		}
		bySlot[s] = append(bySlot[s], e)
	}
	var out []Change
	var policies string
	err := g.eachOwner(ctx, ids, func(prim *api.Client, _ int, ids []int) error {
		var ask []Entry
		for _, s := range ids {
			ask = append(ask, bySlot[s]...)
		}
		var res struct {
			Changes  []Change `json:"changes"`
			Policies string   `json:"policies"`
		}
		if err := prim.Do(ctx, http.MethodPost, "/v1/wan/changes", map[string]any{"entries": ask}, &res); err != nil {
			return err
		}
		out = append(out, res.Changes...)
		policies = res.Policies
		return nil
	})
	return out, policies, err
}

// ranges folds sorted slot numbers into ranges, both ends included.
func ranges(ids []int) [][2]int {
	var out [][2]int
	for _, s := range ids {
		if n := len(out); n > 0 && out[n-1][1] == s-1 {
			out[n-1][1] = s
			continue
		}
		out = append(out, [2]int{s, s})
	}
	return out
}

// resyncs is which partitions of each target are being resynchronized (out of sync), as
// the delegators' pulls say.
type resyncs struct {
	mu    sync.Mutex
	parts map[string]map[int]bool
}

// note records that partition p's last pull for target was a resynchronization or not;
// it reports whether the target just came back in sync at every partition after one was
// out of sync.
func (r *resyncs) note(target string, p int, resync bool) (back bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.parts == nil {
		r.parts = map[string]map[int]bool{}
	}
	m := r.parts[target]
	if m == nil {
		m = map[int]bool{}
		r.parts[target] = m
	}
	was := len(m) > 0
	if resync {
		m[p] = true
	} else {
		delete(m, p)
	}
	return was && len(m) == 0
}

// noteResync is the delegator's report of a pull of partition p for t: once every
// partition of t is back in sync after one was marked out of sync, t is repaired — the
// resynchronization from the metadata sent this site's own writes; the repair compares
// everything.
func (g *Gateway) noteResync(ctx context.Context, t GatewayTarget, p int, resync bool) {
	if !g.resync.note(t.Name, p, resync) {
		return
	}
	if rs, _ := g.startRepair(ctx, t); rs != nil {
		g.log.Info("WAN repair of a target back in sync", "target", t.Name, "id", rs.ID)
	}
}

// syncAtStart repairs every target once when the gateway starts, and then asks each to
// repair this site back: a site that joins with data, or comes back without its data, is
// compared both ways. Each step not done yet (a target not reachable) is tried again,
// from 1 s to every 30 s; a target that does not replicate to this site is not asked.
func (g *Gateway) syncAtStart(ctx context.Context) {
	var wg sync.WaitGroup
	for _, t := range g.cfg.Targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if g.retry(ctx, t, "repairing it", func() error { return g.repairNow(ctx, t) }) {
				g.retry(ctx, t, "asking it to repair this site", func() error { return g.askRepair(ctx, t) })
			}
		}()
	}
	wg.Wait()
}

// retry runs step until it succeeds or ctx ends, waiting from 1 s to 30 s between tries;
// it reports whether step succeeded.
func (g *Gateway) retry(ctx context.Context, t GatewayTarget, what string, step func() error) bool {
	wait := time.Second
	for ctx.Err() == nil {
		err := step()
		if err == nil {
			return true
		}
		g.log.Info("WAN repair at start: trying again", "target", t.Name, "step", what, "in", wait.String(), "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
	return false
}

// repairNow repairs t and waits for the end.
func (g *Gateway) repairNow(ctx context.Context, t GatewayTarget) error {
	rs, running := g.rep.begin(t.Name)
	if rs == nil {
		return fmt.Errorf("a repair of site %s is running (id %d)", t.Name, running)
	}
	g.runRepair(ctx, t, rs)
	if rs := g.repairOf(rs.ID); rs.State != api.WANRepairDone {
		return errors.New(rs.Error)
	}
	return nil
}

// askRepair asks t's gateway to repair this site. One running there already will do; a
// target that does not know this site (400: it does not replicate here) is not asked again.
func (g *Gateway) askRepair(ctx context.Context, t GatewayTarget) error {
	var l link
	defer l.drop()
	var back api.WANRepairStarted
	err := g.call(ctx, t, &l, api.PathWANSync, api.WANSyncRequest{Target: g.cfg.Site}, &back)
	var se *statusError
	if errors.As(err, &se) {
		switch se.code {
		case http.StatusConflict:
			return nil
		case http.StatusBadRequest:
			g.log.Info("WAN repair at start: the target does not replicate to this site; not asked to repair it", "target", t.Name, "err", err)
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("asking site %s to repair this site: %w", t.Name, err)
	}
	return nil
}

// repairOf is a copy of repair id's status.
func (g *Gateway) repairOf(id int64) api.WANRepair {
	for _, x := range g.rep.list() {
		if x.ID == id {
			return x
		}
	}
	return api.WANRepair{}
}
