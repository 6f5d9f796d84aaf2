package local

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/insightgrid/insight/grid/api"
)

// followEvery is how often the follower asks the manager for the partition count while a
// re-partitioning is in progress; while none is and the count stays the same the pause
// doubles up to followIdle (each question is a read of the whole cluster state from etcd
// by the manager), so a re-partitioning asked for is seen within followIdle.
const (
	followEvery = 200 * time.Millisecond
	followIdle  = time.Second
)

// follower keeps the data instances in step with the grid's partition count, as helm and
// the StatefulSet controller do on Kubernetes: when re-partitioning asks for more
// partitions it starts their instances (the manager waits for them to register), and
// once partitions have left the map it stops theirs.
type follower struct {
	cfg         Config
	layout      Layout
	g           *group
	replTimeout bool
	out         io.Writer // where the new instances' addresses are printed
	partitions  int       // partitions whose instances run
	running     map[int][]*child
	warned      bool // said that the grid asks for more partitions than local runs
}

func (f *follower) run(ctx context.Context) {
	manager := api.NewClient("http://"+f.layout.API, &http.Client{Timeout: time.Second})
	wait := followEvery
	t := time.NewTimer(wait)
	defer t.Stop()
	last := -1
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rp, err := manager.Repartition(ctx)
		if err != nil || !rp.Idle() || rp.Partitions != last {
			wait = followEvery
		} else {
			wait = min(2*wait, followIdle)
		}
		t.Reset(wait)
		if err != nil {
			continue // the manager is busy or stopping: ask again later
		}
		last = rp.Partitions
		want := max(rp.Partitions, rp.Target)
		if want > maxInstance/2 {
			if !f.warned {
				f.g.logf("the grid asks for %d partitions; local runs at most %d: not starting the rest", want, maxInstance/2)
				f.warned = true
			}
			want = maxInstance / 2
		}
		for f.partitions < want && f.start(ctx, f.partitions) {
			f.partitions++ // a partition that failed to start is tried again next time
		}
		for ; f.partitions > want && want >= 1; f.partitions-- {
			f.stop(f.partitions - 1)
		}
	}
}

// start runs partition p's instances that do not run yet, printing their addresses like
// the first ones', and reports whether all of them run.
func (f *follower) start(ctx context.Context, p int) bool {
	all := true
	for _, in := range partitionInstances(f.cfg, p) {
		c := dataChild(f.cfg, f.layout, in, f.replTimeout)
		if slices.ContainsFunc(f.running[p], func(r *child) bool { return r.name == c.name }) {
			continue
		}
		if err := f.g.add(c); err != nil {
			f.g.logf("starting %s for the new partition %d failed: %v", c.name, p, err)
			all = false
			continue
		}
		f.g.supervise(ctx, c)
		f.running[p] = append(f.running[p], c)
		pid := f.g.current(c).pid()
		f.g.logf("%s started for the new partition %d (pid %d)", c.name, p, pid)
		fmt.Fprintf(f.out, "  %s    pid %-7d resp %s  http %s  metrics %s\n", c.name, pid, in.RESP, in.HTTP, in.Metrics)
	}
	return all
}

// stop ends partition p's instances, backup first.
func (f *follower) stop(p int) {
	cs := f.running[p]
	sort.Slice(cs, func(i, j int) bool { return cs[i].name > cs[j].name })
	for _, c := range cs {
		f.g.remove(c, 10*time.Second)
		f.g.logf("%s stopped: partition %d left the grid", c.name, p)
	}
	delete(f.running, p)
}
