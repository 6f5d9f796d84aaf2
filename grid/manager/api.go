package manager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/internal/httpjson"
	"github.com/insightgrid/insight/grid/internal/metricsport"
	"github.com/insightgrid/insight/grid/registry"
	"github.com/insightgrid/insight/grid/slots"
)

// get wraps a read-only handler: other methods get a JSON 405 naming what is allowed.
func get(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			httpjson.Error(w, http.StatusMethodNotAllowed, api.CodeMethodNotAllowed, "%s %s: only GET is allowed", r.Method, r.URL.Path)
			return
		}
		h(w, r)
	}
}

func (m *Manager) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(api.PathLivez, get(func(w http.ResponseWriter, _ *http.Request) {
		httpjson.Write(w, 200, map[string]string{"status": "ok"})
	}))
	mux.HandleFunc("/readyz", get(m.readyz))
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		httpjson.Error(w, http.StatusNotFound, api.CodeNotFound, "%s", metricsport.Moved("--metrics-port", m.cfg.MetricsPort))
	})
	mux.HandleFunc(api.PathCluster, get(m.getCluster))
	mux.HandleFunc(api.PathPartitions, get(m.getPartitions))
	mux.HandleFunc("/v1/partitions/{id}", get(m.getPartition))
	mux.HandleFunc("/v1/partitions/{id}/failover", post(m.postFailover))
	mux.HandleFunc("/v1/partitions/{id}/failback", post(m.postFailback))
	mux.HandleFunc("/v1/partitions/{id}/reset", post(m.postReset))
	mux.HandleFunc("/v1/partitions/{id}/snapshot", post(m.postSnapshot))
	mux.HandleFunc(api.PathRestore, post(m.postRestore))
	mux.HandleFunc(api.PathRestoreFunctions, post(m.postRestoreFunctions))
	mux.HandleFunc(api.PathRestoreLibraries, post(m.postRestoreLibraries))
	mux.HandleFunc(api.PathRepartition, m.repartition)
	mux.HandleFunc(api.PathHA, m.haHandler)
	mux.HandleFunc(api.PathManagers, m.managersHandler)
	mux.HandleFunc(api.PathOverview, get(m.getOverview))
	mux.HandleFunc(api.PathEvents, get(m.getEvents))
	mux.HandleFunc(api.PathKeysScan, post(m.postKeysScan))
	mux.HandleFunc(api.PathKeysGet, post(m.postKeysGet))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpjson.Error(w, http.StatusNotFound, api.CodeNotFound, "no such endpoint %s; the API serves /v1/cluster, /v1/partitions, /v1/partitions/{id}, "+
			"POST /v1/partitions/{id}/failover, /failback, /reset and /snapshot, POST /v1/restore, GET and POST /v1/repartition, /v1/ha and /v1/managers, /v1/overview, /v1/events (server-sent), POST /v1/keys/scan and /v1/keys/get (read-only), /livez, /readyz (metrics: on --metrics-port)", r.URL.Path)
	})
	return mux
}

// readyz is ready when etcd has a leader, this member votes and the partition map exists.
func (m *Manager) readyz(w http.ResponseWriter, r *http.Request) {
	if why := m.notReady(r.Context()); why != "" {
		httpjson.Error(w, http.StatusServiceUnavailable, api.CodeUnavailable, "%s", why)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]string{"status": "ok"})
}

// notReady says why this manager is not ready, "" when it is: readyz and the
// insight_manager_ready metric share it.
func (m *Manager) notReady(ctx context.Context) string {
	if m.etcd.Server.Leader() == 0 {
		return "etcd has no leader"
	}
	if m.etcd.Server.IsLearner() {
		return "this member joined as a learner and is catching up; it is promoted once in sync"
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	exists, err := registry.MapExists(ctx, m.cli)
	if err != nil {
		return err.Error()
	}
	if !exists {
		return "the partition map is not written yet"
	}
	return ""
}

func (m *Manager) getCluster(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	out := api.Cluster{Version: m.cfg.Version, Slots: slots.Count, Managers: []api.Manager{}}
	leader := uint64(m.etcd.Server.Leader())
	out.Etcd.Healthy = leader != 0
	st, err := registry.Load(ctx, m.cli)
	if err == nil {
		out.Etcd.Quorum = true
		if st.Map != nil {
			out.Partitions, out.HA = len(st.Map.Partitions), st.Map.HA
		}
	}
	// The member list is local knowledge; health is each member's own /health answer.
	members := m.etcd.Server.Cluster().Members()
	var wg sync.WaitGroup
	out.Managers = make([]api.Manager, len(members))
	for i, mem := range members {
		mj := api.Manager{Name: mem.Name, Leader: uint64(mem.ID) == leader}
		if len(mem.PeerURLs) > 0 {
			mj.PeerURL = mem.PeerURLs[0]
		}
		if len(mem.ClientURLs) > 0 {
			mj.ClientURL = mem.ClientURLs[0]
		}
		out.Managers[i] = mj
		if mj.ClientURL == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out.Managers[i].Healthy = m.memberHealthy(ctx, mj.ClientURL)
		}()
	}
	wg.Wait()
	sort.Slice(out.Managers, func(i, j int) bool { return out.Managers[i].Name < out.Managers[j].Name })
	httpjson.Write(w, http.StatusOK, out)
}

func (m *Manager) memberHealthy(ctx context.Context, clientURL string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, clientURL+"/health", nil)
	if err != nil {
		return false
	}
	resp, err := m.hc.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var h struct {
		Health string `json:"health"`
	}
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&h) == nil && h.Health == "true"
}

// partitions builds the partition documents, asking every registered instance for its
// status in parallel (an unreachable one shows as not ready).
func (m *Manager) partitions(ctx context.Context) ([]api.Partition, error) {
	st, err := registry.Load(ctx, m.cli)
	if err != nil {
		return nil, err
	}
	if st.Map == nil {
		return nil, errNoMap
	}
	out := make([]api.Partition, 0, len(st.Map.Partitions))
	var wg sync.WaitGroup
	for _, pm := range st.Map.Partitions {
		rec, ok := st.Records[pm.ID]
		if !ok {
			rec = cluster.InitialRecord(pm.ID, st.Map.HA)
		}
		pj := api.Partition{ID: pm.ID, Slots: pm.Slots, Epoch: rec.Epoch, Primary: rec.Primary, Backup: rec.Backup,
			InSync: rec.InSync, PreferredPrimary: rec.PreferredPrimary, Instances: []api.Instance{}}
		for i := range 2 {
			inst, ok := st.Instances[cluster.InstanceID(pm.ID, i)]
			if !ok {
				continue
			}
			role := api.RoleBackup
			if inst.ID == rec.Primary {
				role = api.RolePrimary
			}
			pj.Instances = append(pj.Instances, api.Instance{ID: inst.ID, Partition: inst.Partition, Instance: inst.Instance,
				Address: inst.Address, HTTPAddress: inst.HTTPAddress, TLSAddress: inst.TLSAddress, ReplAddress: inst.ReplAddress,
				Node: inst.Node, Zone: inst.Zone, Role: role})
		}
		out = append(out, pj)
	}
	for p := range out {
		for i := range out[p].Instances {
			wg.Add(1)
			go func() {
				defer wg.Done()
				in := &out[p].Instances[i]
				if s, err := m.instanceStatus(ctx, in.HTTPAddress); err == nil {
					in.Ready, in.Keys, in.UsedMemoryBytes, in.Offset = s.Ready, &s.Keys, &s.UsedMemoryBytes, &s.Offset
					if in.Role == api.RolePrimary {
						in.LagOps = &s.LagOps
					}
				}
			}()
		}
	}
	wg.Wait()
	return out, nil
}

// errNoMap is the answer before the partition map is written.
var errNoMap = registry.ErrNoMap

func (m *Manager) instanceStatus(ctx context.Context, addr string) (*cluster.InstanceStatus, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.dataURL(addr, "/v1/status"), nil)
	if err != nil {
		return nil, err
	}
	resp, err := m.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var s cluster.InstanceStatus
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return nil, fmt.Errorf("decoding status of %s: %w", addr, err)
	}
	return &s, nil
}

func (m *Manager) writeStateError(w http.ResponseWriter, err error) {
	if errors.Is(err, errNoMap) {
		httpjson.Error(w, http.StatusServiceUnavailable, api.CodeUnavailable, "%v", err)
		return
	}
	httpjson.Error(w, http.StatusServiceUnavailable, api.CodeUnavailable, "cluster state unavailable: %v", err)
}

func (m *Manager) getPartitions(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	ps, err := m.partitions(ctx)
	if err != nil {
		m.writeStateError(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, api.Partitions{Partitions: ps})
}

// partitionID parses the {id} of the path, answering 400 when it is not a partition number.
func partitionID(w http.ResponseWriter, r *http.Request) (int, bool) {
	raw := r.PathValue("id")
	id, err := strconv.Atoi(raw)
	if err != nil || id < 0 {
		httpjson.Error(w, http.StatusBadRequest, api.CodeBadRequest, "partition id %q: must be a non-negative integer", raw)
		return 0, false
	}
	return id, true
}

func (m *Manager) getPartition(w http.ResponseWriter, r *http.Request) {
	id, ok := partitionID(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	ps, err := m.partitions(ctx)
	if err != nil {
		m.writeStateError(w, err)
		return
	}
	if id >= len(ps) {
		httpjson.Error(w, http.StatusNotFound, api.CodeNotFound, "partition %d not found: the grid has %d partitions (0-%d)", id, len(ps), len(ps)-1)
		return
	}
	httpjson.Write(w, http.StatusOK, ps[id])
}
