package manager

// The managers' etcd cluster grows and shrinks one member at a time, as etcd's runtime
// reconfiguration guide says: a new member is added as a learner (it does not vote, so
// a slow catch-up never costs the quorum), starts with the member list the add returned,
// and is promoted once the leader finds it in sync; a member that goes is removed from
// the membership before its pod is deleted.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/internal/httpjson"
)

// The values of --initial-cluster-state.
const (
	ClusterStateNew      = "new"
	ClusterStateExisting = "existing"
)

// joinRetry is how long a joining member waits between two attempts to be added (the
// cluster allows one learner at a time, and may be electing a leader).
const joinRetry = time.Second

// shrinkTimeout bounds a POST /v1/managers: etcd refuses a removal until the members that
// stay have been connected for 5 s, which it waits out.
const shrinkTimeout = 30 * time.Second

// hasData reports whether the member's data directory already holds an etcd member.
func hasData(cfg Config) bool {
	_, err := os.Stat(filepath.Join(cfg.DataDir, "etcd", "member"))
	return err == nil
}

// peerURL is the URL the other members reach this one at.
func (c *Config) peerURL() string {
	u := c.hostURL(c.AdvertiseHost, c.PeerPort)
	return u.String()
}

// joins reports whether this member starts by joining a running cluster: it was told the
// cluster exists, it has no data of its own, and it is not the only member named (a lone
// member without data has nobody to join: it starts a cluster of its own, as on the
// first install).
func (c *Config) joins() bool {
	return c.ClusterState == ClusterStateExisting && len(c.Join) > 0 && !hasData(*c) &&
		strings.Contains(c.InitialCluster, ",")
}

// join adds this member to the running cluster at cfg.Join as a learner and returns the
// --initial-cluster it must start with: every member the cluster now has. It retries
// until added or ctx ends. A member listed under this peer URL that has started before
// lost its data (a new volume): it is removed and added again, as etcd's guide says.
func join(ctx context.Context, cfg Config) (string, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: cfg.Join, DialTimeout: 2 * time.Second, Logger: zap.NewNop(), Context: ctx, TLS: cfg.etcdClientTLS()})
	if err != nil {
		return "", fmt.Errorf("etcd client for --join %v: %w", cfg.Join, err)
	}
	defer cli.Close()
	self := cfg.peerURL()
	for {
		initial, err := joinOnce(ctx, cli, cfg.Name, self)
		if err == nil {
			return initial, nil
		}
		cfg.Logger.Warn("joining the managers' etcd cluster as a learner, retrying", "join", cfg.Join, "err", err)
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("joining the managers' etcd cluster at %v: %w (last: %w)", cfg.Join, ctx.Err(), err)
		case <-time.After(joinRetry):
		}
	}
}

// joinOnce is one attempt of join.
func joinOnce(ctx context.Context, cli *clientv3.Client, name, self string) (string, error) {
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	list, err := cli.MemberList(actx)
	if err != nil {
		return "", fmt.Errorf("listing the members: %w", err)
	}
	members := list.Members
	if old := memberByPeer(members, self); old != nil {
		if old.Name != "" {
			// It started before under this URL and its data is gone.
			if _, err := cli.MemberRemove(actx, old.ID); err != nil {
				return "", fmt.Errorf("removing %s (%x), which lost its data, before adding it again: %w", old.Name, old.ID, err)
			}
			return "", fmt.Errorf("removed %s (%x), which lost its data; adding it again", old.Name, old.ID)
		}
		// Added by an earlier attempt that did not start: start with the list.
	} else {
		resp, err := cli.MemberAddAsLearner(actx, []string{self})
		if err != nil {
			return "", fmt.Errorf("adding %s as a learner: %w", self, err)
		}
		members = resp.Members
	}
	var initial []string
	for _, m := range members {
		n := m.Name
		if memberHasPeer(m, self) {
			n = name
		}
		for _, u := range m.PeerURLs {
			initial = append(initial, n+"="+u)
		}
	}
	return strings.Join(initial, ","), nil
}

func memberHasPeer(m *etcdserverpb.Member, peer string) bool {
	return slices.Contains(m.PeerURLs, peer)
}

func memberByPeer(members []*etcdserverpb.Member, peer string) *etcdserverpb.Member {
	for _, m := range members {
		if memberHasPeer(m, peer) {
			return m
		}
	}
	return nil
}

// promote asks the leader to make this learner a voting member until it agrees (it does
// once the learner's log is close to its own), and returns once the promotion has applied
// here, or when ctx ends.
func (m *Manager) promote(ctx context.Context) {
	id := uint64(m.etcd.Server.MemberID())
	asked, nextAsk := false, time.Time{}
	for m.etcd.Server.IsLearner() {
		if !asked && time.Now().After(nextAsk) {
			nextAsk = time.Now().Add(200 * time.Millisecond)
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := m.cli.MemberPromote(pctx, id)
			cancel()
			if asked = err == nil; asked {
				m.log.Info("promoted from learner to voting member", "name", m.cfg.Name, "id", fmt.Sprintf("%x", id))
			} else {
				m.log.Info("learner not promoted yet (catching up with the leader)", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// handOffLeadership moves etcd's leadership from member mem (id) to member to when mem
// leads: a leader that removes itself leaves the others unsure the removal committed,
// and in a cluster of two the one left can then never elect itself.
func (m *Manager) handOffLeadership(ctx context.Context, mem api.Manager, id, to uint64) error {
	if uint64(m.etcd.Server.Leader()) != id {
		return nil
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{mem.ClientURL}, DialTimeout: 2 * time.Second, Logger: zap.NewNop(), Context: ctx, TLS: m.cfg.etcdClientTLS()})
	if err != nil {
		return fmt.Errorf("etcd client for the leader %s: %w", mem.Name, err)
	}
	defer cli.Close()
	m.log.Info("moving etcd's leadership off the member that goes", "from", mem.Name, "to", fmt.Sprintf("%x", to))
	if _, err := cli.MoveLeader(ctx, to); err != nil {
		return fmt.Errorf("moving the leadership from %s: %w", mem.Name, err)
	}
	for uint64(m.etcd.Server.Leader()) != to {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the leadership to move from %s: %w", mem.Name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// stopped reports whether this member's etcd stops within wait.
func (m *Manager) stopped(wait time.Duration) bool {
	select {
	case <-m.etcd.Server.StopNotify():
		return true
	case <-time.After(wait):
		return false
	}
}

// removeMember removes member id through cli (already gone counts as removed), waiting while etcd
// refuses it as unsafe — it removes a voting member only when the others have been
// connected long enough (5 s) to keep the quorum, which a member restarted a moment ago
// has not — and while the cluster elects a leader (removing the leader makes it step
// down).
func (m *Manager) removeMember(ctx context.Context, cli *clientv3.Client, id uint64) error {
	for {
		_, err := cli.MemberRemove(ctx, id)
		switch {
		case err == nil, errors.Is(err, rpctypes.ErrMemberNotFound):
			return nil
		case !errors.Is(err, rpctypes.ErrUnhealthy) && !errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail) &&
			!errors.Is(err, rpctypes.ErrLeaderChanged) && !errors.Is(err, rpctypes.ErrNoLeader) && !errors.Is(err, rpctypes.ErrTimeout):
			return err
		}
		m.log.Info("etcd cannot remove the member yet (members not connected long enough, or a leader election); retrying", "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (retried until: %w)", err, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// ordinal is the number ending a member's name ("insight-manager-2": 2), as a
// StatefulSet names its pods; -1 when there is none.
func ordinal(name string) int {
	i := strings.LastIndexByte(name, '-')
	n, err := strconv.Atoi(name[i+1:])
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// membersDoc lists the members as GET /v1/managers shows them.
func (m *Manager) membersDoc(ctx context.Context) api.Managers {
	leader := uint64(m.etcd.Server.Leader())
	var out api.Managers
	for _, mem := range m.etcd.Server.Cluster().Members() {
		mj := api.Manager{Name: mem.Name, Leader: uint64(mem.ID) == leader, Learner: mem.IsLearner}
		if len(mem.PeerURLs) > 0 {
			mj.PeerURL = mem.PeerURLs[0]
		}
		if len(mem.ClientURLs) > 0 {
			mj.ClientURL = mem.ClientURLs[0]
			mj.Healthy = m.memberHealthy(ctx, mj.ClientURL)
		}
		if !mem.IsLearner {
			out.Voters++
		}
		out.Members = append(out.Members, mj)
	}
	sortMembers(out.Members)
	return out
}

// sortMembers orders members by ordinal, then name.
func sortMembers(ms []api.Manager) {
	sort.Slice(ms, func(i, j int) bool {
		oi, oj := ordinal(ms[i].Name), ordinal(ms[j].Name)
		if oi != oj {
			return oi < oj
		}
		return ms[i].Name < ms[j].Name
	})
}

// managersHandler is GET /v1/managers (the members) and POST /v1/managers {"members": N}
// (remove every member but the N lowest ordinals, one at a time).
func (m *Manager) managersHandler(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), shrinkTimeout)
	defer cancel()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		httpjson.Write(w, http.StatusOK, m.membersDoc(ctx))
	case http.MethodPost:
		var req api.ManagersRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil || req.Members == nil || *req.Members < 1 {
			msg := "members is missing"
			switch {
			case err != nil:
				msg = err.Error()
			case req.Members != nil:
				msg = fmt.Sprintf("members is %d", *req.Members)
			}
			httpjson.Error(w, http.StatusBadRequest, api.CodeBadRequest, `request body: %s; want {"members": N} with N from 1 to the members there are`, msg)
			return
		}
		out, oe := m.shrink(ctx, *req.Members)
		if oe != nil {
			writeOpError(w, oe)
			return
		}
		httpjson.Write(w, http.StatusOK, out)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		httpjson.Error(w, http.StatusMethodNotAllowed, api.CodeMethodNotAllowed, "%s %s: only GET and POST are allowed", r.Method, r.URL.Path)
	}
}

// shrink removes every member but the keep lowest ordinals, the highest first and this
// member (if it goes) last. It refuses while a kept member is unhealthy or a learner: the
// members left must hold the quorum on their own.
func (m *Manager) shrink(ctx context.Context, keep int) (api.Managers, *opError) {
	if !m.hasLeader() {
		return api.Managers{}, unavailable("etcd has no quorum: members cannot be removed until a majority of the managers is back")
	}
	doc := m.membersDoc(ctx)
	if keep > len(doc.Members) {
		return doc, conflict("members %d: the managers' cluster has %d; members are added by starting them (insightctl scale --manager-ha=true), not by this request", keep, len(doc.Members))
	}
	byName := map[string]uint64{}
	for _, mem := range m.etcd.Server.Cluster().Members() {
		byName[mem.Name] = uint64(mem.ID)
	}
	for _, mem := range doc.Members[:keep] {
		if !mem.Healthy || mem.Learner {
			return doc, conflict("member %s, which would stay, is not a healthy voting member (healthy %v, learner %v): the members left could not hold the quorum; fix it first", mem.Name, mem.Healthy, mem.Learner)
		}
	}
	// The removals go through the members that stay: a member asked to remove itself
	// would wait for its own removal to apply, which in a cluster of two it may never
	// learn of (the leader stops replicating to a member it removed).
	var eps []string
	for _, mem := range doc.Members[:keep] {
		eps = append(eps, mem.ClientURL)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 2 * time.Second, Logger: zap.NewNop(), Context: ctx, TLS: m.cfg.etcdClientTLS()})
	if err != nil {
		return doc, unavailable("etcd client for the members that stay (%v): %v", eps, err)
	}
	defer cli.Close()
	gone := doc.Members[keep:]
	// Highest ordinal first, this member last: its etcd stops once its removal applies.
	sort.SliceStable(gone, func(i, j int) bool {
		si, sj := gone[i].Name == m.cfg.Name, gone[j].Name == m.cfg.Name
		if si != sj {
			return sj
		}
		return ordinal(gone[i].Name) > ordinal(gone[j].Name)
	})
	var removed []string
	for _, mem := range gone {
		m.log.Info("removing a member from the managers' etcd cluster", "name", mem.Name, "keep", keep)
		if err := m.handOffLeadership(ctx, mem, byName[mem.Name], byName[doc.Members[0].Name]); err != nil {
			out := m.membersDoc(ctx)
			out.Removed = removed
			return out, unavailable("removing member %s: %v (removed so far: %v); send the request again", mem.Name, err, removed)
		}
		if err := m.removeMember(ctx, cli, byName[mem.Name]); err != nil {
			if mem.Name == m.cfg.Name && m.stopped(time.Second) {
				removed = append(removed, mem.Name) // its own removal stopped the server before the answer
				break
			}
			out := m.membersDoc(ctx)
			out.Removed = removed
			return out, unavailable("removing member %s: %v (removed so far: %v); send the request again", mem.Name, err, removed)
		}
		removed = append(removed, mem.Name)
	}
	out := api.Managers{Members: doc.Members[:keep], Voters: keep, Removed: removed}
	return out, nil
}
