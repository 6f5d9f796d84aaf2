package manager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/internal/opauth"
	"github.com/insightgrid/insight/grid/registry"
)

// The partition operations: planned switch-over (failover), switch-back to the preferred
// primary (failback) and the operator's accept-the-loss reset. Switch-overs are done by the
// current primary (POST /v1/handover on the data instance: it pauses writes, drains the
// replication stream and CASes the record); the manager only picks the target and passes
// the epoch it saw, so two concurrent requests cannot both succeed. Reset is the one record
// change the manager makes itself, by CAS on the record's mod revision.

const (
	// handoverTimeout bounds a data instance's handover: pause, drain, CAS in etcd.
	handoverTimeout = 15 * time.Second
	// opTimeout bounds the etcd reads and writes of one operation.
	opTimeout = 5 * time.Second
)

// opError is a failed operation with the HTTP status and code the API answers with.
type opError struct {
	status int
	code   string
	msg    string
}

func (e *opError) Error() string { return e.msg }

func opErr(status int, code, format string, a ...any) *opError {
	return &opError{status: status, code: code, msg: fmt.Sprintf(format, a...)}
}

func conflict(format string, a ...any) *opError {
	return opErr(http.StatusConflict, api.CodeConflict, format, a...)
}

func unavailable(format string, a ...any) *opError {
	return opErr(http.StatusServiceUnavailable, api.CodeUnavailable, format, a...)
}

// errNoQuorum is the answer to every role change while etcd has no leader.
func errNoQuorum() *opError {
	return unavailable("etcd has no quorum: partitions keep serving in their current roles, failover and failback are stopped until a majority of the managers is back")
}

// stateError turns a registry.LoadPartition error into the API's answer.
func stateError(err error) *opError {
	var nf *registry.NotFoundError
	switch {
	case errors.As(err, &nf):
		return opErr(http.StatusNotFound, api.CodeNotFound, "%v", nf)
	case errors.Is(err, errNoMap):
		return unavailable("%v", err)
	}
	return unavailable("cluster state unavailable: %v", err)
}

// loadForOp reads partition p for a role change: it refuses while etcd has no leader, and
// bounds the read by opTimeout. Its error is the API's answer.
func (m *Manager) loadForOp(ctx context.Context, p int) (*registry.PartitionState, *opError) {
	if !m.hasLeader() {
		return nil, errNoQuorum()
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	ps, err := registry.LoadPartition(ctx, m.cli, p)
	if err != nil {
		return nil, stateError(err)
	}
	return ps, nil
}

// switchOver asks partition ps's current primary to hand over to its backup `to`, which
// must be the in-sync backup of the record. It returns the data instance's result.
func (m *Manager) switchOver(ctx context.Context, ps *registry.PartitionState, to, why string) (*api.SwitchResult, *opError) {
	rec := ps.Record
	switch {
	case rec.Backup == "":
		return nil, conflict("partition %d has no backup (the grid runs without --ha): there is no instance to %s to", ps.ID, why)
	case rec.Backup != to:
		return nil, conflict("partition %d: %s is not the backup (primary %s, backup %s): nothing to %s to", ps.ID, to, rec.Primary, rec.Backup, why)
	case ps.Instance(rec.Backup) == nil:
		return nil, conflict("partition %d: backup %s is not registered (stopped or restarting): start it, wait until it is in sync and retry", ps.ID, rec.Backup)
	case !rec.InSync:
		return nil, conflict("partition %d: backup %s is not in sync with primary %s: wait until it has caught up (GET /v1/partitions/%d shows inSync: true) and retry",
			ps.ID, rec.Backup, rec.Primary, ps.ID)
	}
	primary := ps.Instance(rec.Primary)
	if primary == nil {
		return nil, unavailable("partition %d: primary %s is not registered (stopped or restarting); if it died, the in-sync backup %s takes over by itself once the primary's lease expires",
			ps.ID, rec.Primary, rec.Backup)
	}
	body, _ := json.Marshal(map[string]any{"to": to, "epoch": rec.Epoch})
	hctx, cancel := context.WithTimeout(ctx, handoverTimeout)
	defer cancel()
	url := m.dataURL(primary.HTTPAddress, "/v1/handover")
	req, err := http.NewRequestWithContext(hctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, unavailable("partition %d: primary %s: %v", ps.ID, rec.Primary, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := opauth.Set(req, m.cfg.OperatorToken); err != nil {
		return nil, unavailable("partition %d: presenting the operator token to primary %s: %v", ps.ID, rec.Primary, err)
	}
	resp, err := m.handoverClient.Do(req)
	if err != nil {
		return nil, unavailable("partition %d: primary %s at %s unreachable: %v", ps.ID, rec.Primary, primary.HTTPAddress, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, unavailable("partition %d: reading the handover answer of primary %s: %v", ps.ID, rec.Primary, err)
	}
	if resp.StatusCode == http.StatusOK {
		var res api.SwitchResult
		if err := json.Unmarshal(out, &res); err != nil {
			return nil, opErr(http.StatusBadGateway, api.CodeBadGateway, "partition %d: primary %s answered the handover with invalid JSON: %.200q", ps.ID, rec.Primary, out)
		}
		return &res, nil
	}
	var ae api.ErrorBody
	msg := string(bytes.TrimSpace(out))
	if json.Unmarshal(out, &ae) == nil && ae.Error.Message != "" {
		msg = ae.Error.Message
	}
	switch resp.StatusCode {
	case http.StatusConflict, http.StatusServiceUnavailable:
		code := ae.Error.Code
		if code == "" {
			code = http.StatusText(resp.StatusCode)
		}
		return nil, opErr(resp.StatusCode, code, "partition %d: primary %s refused the handover to %s: %s", ps.ID, rec.Primary, to, msg)
	}
	return nil, opErr(http.StatusBadGateway, api.CodeBadGateway, "partition %d: primary %s answered the handover with HTTP %d: %.300s", ps.ID, rec.Primary, resp.StatusCode, msg)
}

// failover switches partition p over to its in-sync backup.
func (m *Manager) failover(ctx context.Context, p int) (*api.SwitchResult, *opError) {
	ps, oe := m.loadForOp(ctx, p)
	if oe != nil {
		return nil, oe
	}
	m.log.Info("failover requested", "partition", p, "epoch", ps.Record.Epoch, "from", ps.Record.Primary, "to", ps.Record.Backup)
	out, oe := m.switchOver(ctx, ps, ps.Record.Backup, "switch over")
	m.logSwitch("failover", p, out, oe)
	return out, oe
}

// failback hands partition p back to its preferred primary; nothing to do when that is
// already the primary.
func (m *Manager) failback(ctx context.Context, p int) (*api.SwitchResult, *opError) {
	ps, oe := m.loadForOp(ctx, p)
	if oe != nil {
		return nil, oe
	}
	rec := ps.Record
	if rec.Primary == rec.PreferredPrimary {
		return &api.SwitchResult{Partition: p, Unchanged: true, Primary: rec.Primary, Epoch: rec.Epoch}, nil
	}
	if rec.Backup != rec.PreferredPrimary {
		return nil, conflict("partition %d: preferred primary %s is neither primary (%s) nor backup (%s): fix the record before failing back",
			p, rec.PreferredPrimary, rec.Primary, rec.Backup)
	}
	m.log.Info("failback requested", "partition", p, "epoch", rec.Epoch, "from", rec.Primary, "to", rec.PreferredPrimary)
	out, oe := m.switchOver(ctx, ps, rec.PreferredPrimary, "fail back")
	m.logSwitch("failback", p, out, oe)
	return out, oe
}

func (m *Manager) logSwitch(op string, p int, r *api.SwitchResult, oe *opError) {
	if oe != nil {
		m.log.Warn(op+" failed", "partition", p, "status", oe.status, "err", oe.msg)
		return
	}
	m.log.Info(op+" done", "partition", p, "from", r.From, "to", r.To, "epoch", r.Epoch, "pauseMicros", r.PauseMicros)
}

// reset makes partition p's preferred primary (or primary, when given: one of the
// partition's instances) its primary of a new epoch with an out-of-sync backup: the
// operator's acceptance that writes only a lost copy held are gone. It refuses while a
// copy that holds the data is alive. The preferred primary stays as it was, so an
// automatic failback moves the partition back to it once it is in sync.
func (m *Manager) reset(ctx context.Context, p int, primary string) (_ *api.ResetResult, oe *opError) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout) // the read and the CAS together
	defer cancel()
	ps, oe := m.loadForOp(ctx, p)
	if oe != nil {
		return nil, oe
	}
	rec := ps.Record
	preferred := rec.PreferredPrimary
	if preferred == "" {
		preferred = cluster.InstanceID(p, 0)
	}
	ha := ps.HA || rec.Backup != ""
	ids := []string{cluster.InstanceID(p, 0)}
	if ha {
		ids = append(ids, cluster.InstanceID(p, 1))
	}
	chosen := primary != ""
	if !chosen {
		primary = preferred
	} else if !slices.Contains(ids, primary) {
		return nil, opErr(http.StatusBadRequest, api.CodeBadRequest, "primary=%q: want one of partition %d's instances, %s", primary, p, strings.Join(ids, " or "))
	}
	defer func() {
		if oe != nil && oe.status == http.StatusConflict {
			m.log.Info("partition reset refused", "partition", p, "err", oe.msg)
		}
	}()
	if in := ps.Instance(rec.Primary); in != nil && in.Run == rec.PrimaryRun {
		return nil, conflict("partition %d: primary %s is alive (registered, run %q) and holds the partition's data: there is nothing to reset; use failover for a planned switch-over",
			p, rec.Primary, in.Run)
	}
	if rec.Backup != "" && rec.InSync {
		if in := ps.Instance(rec.Backup); in != nil && in.Run == rec.BackupRun {
			return nil, conflict("partition %d: backup %s is alive and in sync: it takes over from primary %s by itself without losing writes; wait a few seconds and look again",
				p, rec.Backup, rec.Primary)
		}
	}
	next := cluster.Record{Epoch: rec.Epoch + 1, Primary: primary, PreferredPrimary: preferred}
	if ha {
		for _, id := range ids {
			if id != primary {
				next.Backup = id
			}
		}
	}
	// The record, and every registration the decision above read, must be unchanged.
	_, err := registry.CASRecord(ctx, m.cli, p, ps.RecordRev, next, ps.RegistrationsUnchanged()...)
	if err != nil && !errors.Is(err, registry.ErrConflict) {
		return nil, unavailable("partition %d: %v", p, err)
	}
	if err != nil {
		return nil, conflict("partition %d changed while it was being reset (a primary or backup registered, or the record moved on): look at GET /v1/partitions/%d again and retry", p, p)
	}
	res := &api.ResetResult{Partition: p, Epoch: next.Epoch, Primary: next.Primary, Backup: next.Backup, Previous: apiRecord(rec)}
	if !chosen && next.Backup != "" && ps.Instance(next.Primary) == nil && ps.Instance(next.Backup) != nil {
		res.Warning = fmt.Sprintf("%s is down and %s is alive: when %s starts it serves its own copy (empty after a restart) and %s is synced from it, dropping what only %s holds; "+
			"to keep %s's copy instead, reset again now with primary=%s", next.Primary, next.Backup, next.Primary, next.Backup, next.Backup, next.Backup, next.Backup)
	}
	m.log.Warn("partition reset: writes held only by lost copies are gone",
		"partition", p, "previousEpoch", rec.Epoch, "epoch", next.Epoch, "primary", next.Primary, "backup", next.Backup,
		"previousPrimary", rec.Primary, "previousBackup", rec.Backup, "previousInSync", rec.InSync, "warning", res.Warning)
	return res, nil
}
