package wan

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/insightgrid/insight/cli/deps"
	"github.com/insightgrid/insight/cli/exit"
	"github.com/insightgrid/insight/cli/validate"
	"github.com/insightgrid/insight/grid/api"
)

// defaultPoll is how often --wait reads the status when the dependency set names no
// interval.
const defaultPoll = time.Second

// RunSync starts a repair of o.Target at the gateway and, with o.Wait, follows it until
// it is done or failed; a failed repair is an error carrying the repair's own.
func RunSync(ctx context.Context, d *deps.Deps, o SyncOptions) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	g, end, err := connect(ctx, d, o.Options)
	if err != nil {
		return fmt.Errorf("wan sync: %w", err)
	}
	defer end()
	st, _, err := g.status(ctx)
	if err != nil {
		return fmt.Errorf("wan sync: %w", err)
	}
	if err := checkTarget(st, o.Target); err != nil {
		return err
	}
	var started api.WANRepairStarted
	if err := g.c.Do(ctx, http.MethodPost, api.PathWANSync, api.WANSyncRequest{Target: o.Target}, &started); err != nil {
		return g.refused(err, st, o.Target)
	}
	if !o.Wait {
		if done, err := d.IO.Print(started); done {
			return err
		}
		_, err := fmt.Fprintf(d.IO.Out, "Repair %d of site %s started by site %s's gateway; insightctl wan status shows its progress.\n", started.ID, o.Target, st.Site)
		return err
	}
	if !d.IO.Structured() {
		fmt.Fprintf(d.IO.Out, "Repair %d of site %s started by site %s's gateway; waiting for it (--timeout %s).\n", started.ID, o.Target, st.Site, o.Timeout)
	}
	r, err := g.follow(ctx, d, started, o.Timeout)
	if err != nil {
		return fmt.Errorf("wan sync: %w", err)
	}
	if done, err := d.IO.Print(r); done {
		if err == nil && r.State == api.WANRepairFailed {
			err = repairFailed(r, d.Now())
		}
		return err
	}
	if r.State == api.WANRepairFailed {
		return repairFailed(r, d.Now())
	}
	_, err = fmt.Fprintf(d.IO.Out, "Repair %d of site %s done in %s: %d slots compared, %d differing, %d keys sent.\n",
		r.ID, r.Target, repairDuration(r, d.Now()), r.SlotsCompared, r.SlotsDiffering, r.KeysSent)
	return err
}

// checkTarget refuses a target the gateway does not send to, naming the ones it does.
func checkTarget(st *api.WANGatewayStatus, target string) error {
	names := make([]string, 0, len(st.Targets))
	for _, t := range st.Targets {
		if t.Site == target {
			return nil
		}
		names = append(names, t.Site)
	}
	msg := "site " + st.Site + "'s gateway has no target sites to repair (it runs without --wan-target)"
	if len(names) > 0 {
		msg = "not a target site of site " + st.Site + "'s gateway; one of " + strings.Join(names, ", ")
	}
	return &validate.Error{Problems: []validate.Problem{{Key: "--target", Value: target, Message: msg}}}
}

// refused explains the gateway's refusal of a repair: one already running (409) is
// named with its id, a target it does not know (400) is bad input.
func (g *gateway) refused(err error, st *api.WANGatewayStatus, target string) error {
	var ae *api.Error
	if !errors.As(err, &ae) {
		return fmt.Errorf("wan sync: %w", g.explain(err))
	}
	switch ae.Status {
	case http.StatusConflict:
		running := ""
		for _, r := range st.Repairs {
			if r.Target == target && r.State == api.WANRepairRunning {
				running = fmt.Sprintf(" (repair %d, started %s)", r.ID, r.Started)
			}
		}
		return fmt.Errorf("wan sync: a repair of site %s is already running%s: %s; insightctl wan status follows it", target, running, ae.Message)
	case http.StatusBadRequest:
		return exit.BadInputError(fmt.Errorf("wan sync --target %s: %s refused it: %s", target, g.what, ae.Message))
	}
	return fmt.Errorf("wan sync: %w", g.explain(err))
}

// follow reads the status until repair s is done or failed, or ctx ends; a status that
// cannot be read is read again (a gateway pod restarting), the last failure reported at
// the deadline.
func (g *gateway) follow(ctx context.Context, d *deps.Deps, s api.WANRepairStarted, timeout time.Duration) (api.WANRepair, error) {
	every := d.PollInterval
	if every <= 0 {
		every = defaultPoll
	}
	var last *api.WANRepair
	var lastErr error
	for {
		st, _, err := g.status(ctx)
		if ctx.Err() == nil {
			lastErr = err // not the deadline's own failure
		}
		if err == nil {
			for _, r := range st.Repairs {
				if r.Target == s.Target && r.ID == s.ID {
					last = &r
					if r.State == api.WANRepairDone || r.State == api.WANRepairFailed {
						return r, nil
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			what := "not listed in the gateway's status"
			if last != nil {
				what = fmt.Sprintf("still %s (%d slots compared, %d differing, %d keys sent)", last.State, last.SlotsCompared, last.SlotsDiffering, last.KeysSent)
			}
			if lastErr != nil {
				what += "; the last status read failed: " + lastErr.Error()
			}
			return api.WANRepair{}, exit.TimeoutError(fmt.Errorf("repair %d of site %s: %s after --timeout %s", s.ID, s.Target, what, timeout))
		case <-time.After(every):
		}
	}
}

// repairFailed is the error of a failed repair.
func repairFailed(r api.WANRepair, now time.Time) error {
	return fmt.Errorf("wan sync: repair %d of site %s failed after %s (%d slots compared, %d differing, %d keys sent): %s",
		r.ID, r.Target, repairDuration(r, now), r.SlotsCompared, r.SlotsDiffering, r.KeysSent, dash(r.Error))
}
