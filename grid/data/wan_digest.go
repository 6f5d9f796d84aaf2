package data

import (
	"net/http"

	"github.com/insightgrid/insight/grid/internal/httpjson"
	"github.com/insightgrid/insight/grid/slots"
	"github.com/insightgrid/insight/grid/wan"
)

// The repair endpoints of a data instance's HTTP port, which the site's WAN gateway calls
// on each partition's primary to compare the site with another (docs/wan.md, Repair).
// Each takes the operator token and refuses a slot the partition does not own.
const (
	pathWANDigests = "/v1/wan/digests" // the per-slot digests of the slots asked
	pathWANEntries = "/v1/wan/entries" // every key's metadata in the slots asked
	pathWANChanges = "/v1/wan/changes" // the values of the writes asked, as changes
)

// maxChangesAsked bounds a request for changes: a batch's worth of keys, with room.
const maxChangesAsked = 100000

// wanDigestRoutes adds the repair endpoints to mux.
func (in *instance) wanDigestRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+pathWANDigests, func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Slots [][2]int `json:"slots"` // ranges, both ends included
		}
		if !in.wanRequest(w, r, &req) {
			return
		}
		var ids []int
		for _, rg := range req.Slots {
			if rg[0] < 0 || rg[1] >= slots.Count || rg[0] > rg[1] {
				httpjson.Error(w, http.StatusBadRequest, "BadRequest", "slot range %d-%d: want 0 <= first <= last <= %d", rg[0], rg[1], slots.Count-1)
				return
			}
			for s := rg[0]; s <= rg[1]; s++ {
				ids = append(ids, s)
			}
		}
		if !in.ownsSlots(w, ids) {
			return
		}
		// Keys the store held before WAN was on get their metadata now, once, so the
		// digests cover every key.
		in.wan.StampUnmarked(in.srv.Exclusive, in.node.RecordWAN)
		httpjson.Write(w, http.StatusOK, map[string]any{"partition": in.cfg.Partition, "digests": nonNil(in.wan.Digests(ids))})
	})
	mux.HandleFunc("POST "+pathWANEntries, func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Slots []int `json:"slots"`
		}
		if !in.wanRequest(w, r, &req) {
			return
		}
		for _, s := range req.Slots {
			if s < 0 || s >= slots.Count {
				httpjson.Error(w, http.StatusBadRequest, "BadRequest", "slot %d: want 0 to %d", s, slots.Count-1)
				return
			}
		}
		if !in.ownsSlots(w, req.Slots) {
			return
		}
		entries := []wan.Entry{}
		for _, s := range req.Slots {
			entries = append(entries, in.wan.Entries(s)...)
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"entries": entries})
	})
	mux.HandleFunc("POST "+pathWANChanges, func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Entries []wan.Entry `json:"entries"`
		}
		if !in.wanRequest(w, r, &req) {
			return
		}
		if len(req.Entries) > maxChangesAsked {
			httpjson.Error(w, http.StatusBadRequest, "BadRequest", "%d entries asked: at most %d a request", len(req.Entries), maxChangesAsked)
			return
		}
		ids := make([]int, 0, len(req.Entries))
		for _, e := range req.Entries {
			if len(e.Key) == 0 || e.HLC == 0 || wan.CheckSite(e.Site) != nil {
				httpjson.Error(w, http.StatusBadRequest, "BadRequest", "entry %q: want a key, a timestamp and a site (%q)", e.Key, e.Site)
				return
			}
			ids = append(ids, slots.Of(e.Key))
		}
		if !in.ownsSlots(w, ids) {
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"changes": nonNil(in.wan.Changes(req.Entries)), "policies": in.wan.Policies()})
	})
}

// ownsSlots reports whether this partition owns every slot of ids in its routing view;
// false when it answered with an error.
func (in *instance) ownsSlots(w http.ResponseWriter, ids []int) bool {
	v := in.srv.View()
	if v == nil {
		httpjson.Error(w, http.StatusServiceUnavailable, "Unavailable", "no routing view yet")
		return false
	}
	for _, s := range ids {
		if o := v.Owner(s); o == nil || o.ID != in.cfg.Partition {
			httpjson.Error(w, http.StatusConflict, "WrongPartition", "slot %d is not a slot of partition %d", s, in.cfg.Partition)
			return false
		}
	}
	return true
}

// nonNil is s, or an empty slice that encodes as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
