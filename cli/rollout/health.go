package rollout

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/insightgrid/insight/cli/internal/grid"
)

// Unhealthy lists what makes a rolling restart unsafe to start now: a data pod that is
// missing, stopping or not Ready, or (when the manager answered) a backup not in sync. A
// restart of the other instance of such a partition would leave it without an in-sync copy.
func Unhealthy(o Observation) []string {
	var out []string
	sets := append(o.StatefulSets[:0:0], o.StatefulSets...)
	sort.Slice(sets, func(i, j int) bool { return sets[i].Name < sets[j].Name })
	byName := map[string]bool{}
	for i := range o.Pods {
		p := &o.Pods[i]
		if p.DeletionTimestamp == nil && grid.State(p) == grid.StateReady {
			byName[p.Name] = true
		}
	}
	states := map[string]string{}
	for i := range o.Pods {
		p := &o.Pods[i]
		st := string(grid.State(p))
		if p.DeletionTimestamp != nil {
			st = "stopping"
		}
		states[p.Name] = st
	}
	for _, s := range sets {
		replicas := 1
		if s.Spec.Replicas != nil {
			replicas = int(*s.Spec.Replicas)
		}
		id := s.Labels[grid.LabelPartition]
		for i := 0; i < replicas; i++ {
			name := s.Name + "-" + strconv.Itoa(i)
			st, ok := states[name]
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("partition %s: pod %s is missing", id, name))
			case !byName[name]:
				out = append(out, fmt.Sprintf("partition %s: pod %s is not ready (%s)", id, name, st))
			}
		}
	}
	if o.ManagerErr == nil {
		for _, r := range o.Records {
			if r.Backup != "" && !r.InSync {
				out = append(out, fmt.Sprintf("partition %d: backup %s is not in sync with primary %s", r.ID, r.Backup, r.Primary))
			}
		}
	}
	return out
}
