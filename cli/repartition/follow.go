// Package repartition follows the grid's online re-partitioning for insightctl scale
// --partitions: the manager's progress (GET /v1/repartition) shown live, and the
// Kubernetes side of a scale-in (marking the emptied partitions' StatefulSets drained so
// the chart lets them go, and waiting until they are gone).
//
// It must not depend on cobra or on Helm: the command orders the steps and runs the
// upgrades.
package repartition

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/insightgrid/insight/grid/api"
)

// Source reads the manager's progress; *api.Client is one.
type Source interface {
	Repartition(ctx context.Context) (*api.RepartitionStatus, error)
}

// Options say how to follow and show the progress.
type Options struct {
	Out io.Writer
	// TTY redraws one live line in place; otherwise a timestamped line per change.
	TTY bool
	// Now stamps lines and measures elapsed time; tests freeze it.
	Now func() time.Time
	// Interval between polls (default 1s).
	Interval time.Duration
}

// Follow polls the progress until the grid has want partitions and nothing is pending,
// showing each change. It returns the last progress read, an *api.OtherTargetError when
// the grid heads for another count, or ctx's error when it ends first. A manager that does
// not answer (one restarting, a leader changing) is shown and asked again.
func Follow(ctx context.Context, src Source, want int, o Options) (api.RepartitionStatus, error) {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	v := &view{o: o, start: o.Now()}
	defer v.close()
	return api.FollowRepartition(ctx, src.Repartition, want, o.Interval, func(st *api.RepartitionStatus, err error) {
		if err != nil {
			v.show("manager: " + err.Error())
			return
		}
		v.show(Line(*st))
	})
}

// Line is the one-line form of the progress, e.g. "moving to 3 partitions (3 in the
// map, version 10): 4437 slots to move, 1024 moving; 1024 slots start moving".
func Line(r api.RepartitionStatus) string {
	if r.Idle() {
		return fmt.Sprintf("idle: %d partitions (map version %d)", r.Partitions, r.MapVersion)
	}
	s := fmt.Sprintf("%s to %d partitions (%d in the map, version %d): %d slots to move, %d moving", r.State, r.Target, r.Partitions, r.MapVersion, r.SlotsRemaining, r.SlotsMoving)
	if r.Message != "" {
		s += "; " + r.Message
	}
	return s
}

// view prints the progress: on a terminal one line redrawn in place with the time
// elapsed, otherwise a timestamped line whenever it changes.
type view struct {
	o     Options
	start time.Time
	last  string
	drawn bool
}

func (v *view) show(line string) {
	now := v.o.Now()
	elapsed := now.Sub(v.start).Round(time.Second)
	if v.o.TTY {
		fmt.Fprintf(v.o.Out, "\r\033[K%s [%s]", line, elapsed)
		v.drawn = true
		return
	}
	if line == v.last {
		return
	}
	v.last = line
	fmt.Fprintf(v.o.Out, "%s %s [%s]\n", now.Format("15:04:05"), line, elapsed)
}

func (v *view) close() {
	if v.drawn {
		fmt.Fprintln(v.o.Out)
	}
}
