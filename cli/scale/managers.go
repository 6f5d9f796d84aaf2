package scale

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/insightgrid/insight/cli/exit"
	"github.com/insightgrid/insight/cli/install"
	"github.com/insightgrid/insight/cli/internal/grid"
	"github.com/insightgrid/insight/cli/validate"
	"github.com/insightgrid/insight/grid/api"
)

// MembersAnnotation on the manager StatefulSet is the number of members the managers'
// etcd cluster has; the chart scales the managers down only to that number.
const MembersAnnotation = "insight.io/etcd-members"

// ManagersSummary is what scale --manager-ha prints at the end; -o json|yaml prints it as is.
type ManagersSummary struct {
	Name      string   `json:"name"`
	Namespace string   `json:"namespace"`
	Revision  int      `json:"revision"`
	ManagerHA bool     `json:"managerHA"`
	Members   []string `json:"members"`
	Removed   []string `json:"removed,omitempty"`
	// Changed is false when the release and the etcd cluster already had that many members.
	Changed  bool    `json:"changed"`
	DryRun   bool    `json:"dryRun"`
	Duration float64 `json:"durationSeconds"`
}

// checkManagerHA validates --manager-ha and what may come with it.
func (o *Options) checkManagerHA() []validate.Problem {
	return o.checkOnline("--manager-ha", "changing the number of managers restarts no data pod",
		"--manager-ha always follows the members until they have joined (on) or left (off); interrupt it and run the same command again to resume")
}

// runManagers grows the managers' etcd cluster from 1 member to 3 or shrinks it back.
// Growing: the release is upgraded with manager.ha=true; the two new managers join
// as learners one at a time and are promoted once in sync, which is followed. Shrinking:
// the members that go are removed from etcd first (through the manager API), then the
// StatefulSet is marked with the new member count, the release upgraded with
// manager.ha=false, and the command waits until their pods are gone.
func (o *scaler) runManagers(ctx context.Context) error {
	p := &o.Parameters
	wantHA := *o.ManagerHA
	want := 1
	if wantHA {
		want = 3
	}
	start := o.d.Now()
	ch, rel, shape, err := o.release()
	if err != nil {
		return err
	}
	if shape.Managers == 0 {
		return exit.BadInputError(fmt.Errorf("release %s runs no managers (manager.enabled=false): there is no etcd cluster to grow or shrink", p.Name))
	}
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	doc, err := o.managers(ctx)
	if err != nil {
		return err
	}
	sum := ManagersSummary{Name: p.Name, Namespace: p.Namespace, Revision: rel.Version, ManagerHA: wantHA, DryRun: p.DryRun,
		Members: memberNames(doc), Changed: shape.Managers != want || len(doc.Members) != want}
	w := o.d.IO.ErrOut
	fmt.Fprintf(w, "Managers of %s in namespace %s: the release runs %d (manager.ha=%v), their etcd cluster has %s\n",
		p.Name, p.Namespace, shape.Managers, shape.Managers == 3, describeMembers(doc))
	if !sum.Changed {
		fmt.Fprintf(w, "%s already runs %d manager%s; nothing to do\n", p.Name, want, plural(want))
		return o.printManagers(sum, start)
	}
	var plan *install.Plan
	if shape.Managers != want {
		plan, err = o.changedPlan(ctx, ch, rel, fmt.Sprintf("manager.ha=%v", wantHA), func(up *install.Parameters) { up.ManagerHA = &wantHA }, wantHA)
		if err != nil {
			return err
		}
	}
	if p.DryRun {
		return o.printManagers(sum, start)
	}
	if !wantHA && len(doc.Members) > want {
		fmt.Fprintf(w, "Removing %s from the managers' etcd cluster, one at a time\n", strings.Join(memberNames(doc)[want:], " and "))
		res, err := o.shrinkManagers(ctx, want)
		if err != nil {
			return err
		}
		sum.Removed = res.Removed
	}
	if plan != nil {
		if !wantHA {
			if err := o.markMembers(ctx, want); err != nil {
				return o.managersInterrupted(ctx, err)
			}
		}
		up := *p
		up.ManagerHA, up.Wait = &wantHA, false // the members are followed instead
		nrel, err := install.Upgrade(ctx, o.d.Helm, &up, plan)
		if err != nil {
			return o.managersInterrupted(ctx, err)
		}
		sum.Revision = nrel.Version
		fmt.Fprintf(w, "Revision %d applied: manager.ha=%v\n", nrel.Version, wantHA)
	}
	if wantHA {
		fmt.Fprintf(w, "The new managers join as learners, one at a time, and are promoted once in sync; following them for up to %s:\n", p.Timeout)
	} else {
		fmt.Fprintln(w, "Waiting until the removed managers' pods are gone")
	}
	final, err := o.followManagers(ctx, want)
	if err != nil {
		return err
	}
	sum.Members = memberNames(final)
	return o.printManagers(sum, start)
}

// managers reads the members, reaching the manager again when the one reached stopped
// answering (a removed member stops).
func (o *scaler) managers(ctx context.Context) (*api.Managers, error) {
	for {
		client, err := o.d.Manager(ctx, o.Name, o.ManagerURL)
		if err != nil {
			return nil, fmt.Errorf("scale %s: cannot reach the manager: %w", o.Name, err)
		}
		doc, err := client.Managers(ctx)
		if err == nil {
			return doc, nil
		}
		var ae *api.Error
		if errors.As(err, &ae) && ae.Status == 404 {
			return nil, fmt.Errorf("scale %s: reading the managers: %w\n(this grid's managers cannot change their number while they run: upgrade it first with insightctl upgrade)", o.Name, err)
		}
		if !api.IsUnreachable(err) || ctx.Err() != nil {
			return nil, o.managersInterrupted(ctx, fmt.Errorf("reading the managers: %w", err))
		}
		select {
		case <-ctx.Done():
			return nil, o.managersInterrupted(ctx, fmt.Errorf("reading the managers: %w", err))
		case <-time.After(o.interval()):
		}
	}
}

// shrinkManagers asks the managers to keep n members; a manager that stops answering
// (it removed itself) is asked again through another, which finds the work done.
func (o *scaler) shrinkManagers(ctx context.Context, n int) (*api.Managers, error) {
	var removed []string
	for {
		client, err := o.d.Manager(ctx, o.Name, o.ManagerURL)
		if err != nil {
			return nil, fmt.Errorf("scale %s: cannot reach the manager: %w", o.Name, err)
		}
		res, err := client.ShrinkManagers(ctx, n)
		if err == nil {
			res.Removed = append(removed, res.Removed...)
			return res, nil
		}
		var ae *api.Error
		if !api.IsUnreachable(err) && (!errors.As(err, &ae) || ae.Status != 503) {
			return nil, o.managersInterrupted(ctx, fmt.Errorf("removing the managers that go: %w", err))
		}
		fmt.Fprintf(o.d.IO.ErrOut, "  the manager did not finish (%v); asking again\n", err)
		select {
		case <-ctx.Done():
			return nil, o.managersInterrupted(ctx, fmt.Errorf("removing the managers that go: %w", err))
		case <-time.After(o.interval()):
		}
	}
}

// followManagers polls until the etcd cluster has want healthy voting members and
// exactly want manager pods exist, printing each new state.
func (o *scaler) followManagers(ctx context.Context, want int) (*api.Managers, error) {
	w := o.d.IO.ErrOut
	start := o.d.Now()
	last := ""
	for {
		doc, err := o.managers(ctx)
		if err != nil {
			return nil, err
		}
		pods, err := o.managerPods(ctx)
		if err != nil {
			return nil, o.managersInterrupted(ctx, err)
		}
		line := fmt.Sprintf("etcd: %s; pods: %s", describeMembers(doc), strings.Join(pods, ", "))
		if line != last {
			fmt.Fprintf(w, "  [%s] %s\n", o.d.Now().Sub(start).Round(time.Second), line)
			last = line
		}
		if doc.Voters == want && len(doc.Members) == want && allHealthy(doc) && len(pods) == want {
			return doc, nil
		}
		select {
		case <-ctx.Done():
			return nil, o.managersInterrupted(ctx, fmt.Errorf("following the managers: %w", ctx.Err()))
		case <-time.After(o.interval()):
		}
	}
}

// managerSelector selects the release's manager StatefulSet and pods.
func (o *scaler) managerSelector() string {
	return grid.Selector(o.Name) + "," + grid.LabelComponent + "=manager"
}

// managerPods lists the release's manager pods (terminating ones included).
func (o *scaler) managerPods(ctx context.Context) ([]string, error) {
	l, err := o.d.Kube.CoreV1().Pods(o.Namespace).List(ctx, metav1.ListOptions{LabelSelector: o.managerSelector()})
	if err != nil {
		return nil, fmt.Errorf("list the manager pods of %s: %w", o.Name, err)
	}
	var names []string
	for _, p := range l.Items {
		names = append(names, p.Name)
	}
	return names, nil
}

// markMembers sets MembersAnnotation on the release's manager StatefulSet.
func (o *scaler) markMembers(ctx context.Context, n int) error {
	l, err := o.d.Kube.AppsV1().StatefulSets(o.Namespace).List(ctx, metav1.ListOptions{LabelSelector: o.managerSelector()})
	if err != nil {
		return fmt.Errorf("list the manager StatefulSet of %s: %w", o.Name, err)
	}
	if len(l.Items) == 0 {
		return fmt.Errorf("release %s has no manager StatefulSet (selector %s)", o.Name, o.managerSelector())
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, MembersAnnotation, strconv.Itoa(n))
	for _, s := range l.Items {
		if _, err := o.d.Kube.AppsV1().StatefulSets(o.Namespace).Patch(ctx, s.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("annotate StatefulSet %s: %w", s.Name, err)
		}
	}
	return nil
}

func memberNames(d *api.Managers) []string {
	names := make([]string, 0, len(d.Members))
	for _, m := range d.Members {
		names = append(names, m.Name)
	}
	return names
}

func allHealthy(d *api.Managers) bool {
	for _, m := range d.Members {
		if !m.Healthy || m.Learner {
			return false
		}
	}
	return true
}

// describeMembers is "3 members (m-0 leader, m-1, m-2 learner)".
func describeMembers(d *api.Managers) string {
	var parts []string
	for _, m := range d.Members {
		s := m.Name
		if s == "" {
			s = "(starting)"
		}
		switch {
		case m.Leader:
			s += " leader"
		case m.Learner:
			s += " learner"
		}
		if !m.Healthy {
			s += " unhealthy"
		}
		parts = append(parts, s)
	}
	return fmt.Sprintf("%d member%s (%s)", len(d.Members), plural(len(d.Members)), strings.Join(parts, ", "))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// managersInterrupted says how to resume the change of the managers after err.
func (o *scaler) managersInterrupted(ctx context.Context, err error) error {
	return o.resumable(ctx, "", fmt.Sprintf("--manager-ha=%v", *o.ManagerHA), err)
}

func (o *scaler) printManagers(s ManagersSummary, start time.Time) error {
	s.Duration = o.d.Now().Sub(start).Round(time.Millisecond).Seconds()
	if done, err := o.d.IO.Print(s); done {
		return err
	}
	out := o.d.IO.Out
	fmt.Fprintf(out, "NAME: %s\nNAMESPACE: %s\nREVISION: %d\n", s.Name, s.Namespace, s.Revision)
	switch {
	case !s.Changed:
		fmt.Fprintf(out, "MANAGERS: %d (unchanged: %s)\n", len(s.Members), strings.Join(s.Members, ", "))
	case s.DryRun:
		fmt.Fprintf(out, "MANAGERS: -> %d\nDRY RUN: nothing was changed; the checks passed\n", map[bool]int{true: 3, false: 1}[s.ManagerHA])
		return nil
	default:
		fmt.Fprintf(out, "MANAGERS: %d (%s)\n", len(s.Members), strings.Join(s.Members, ", "))
		if len(s.Removed) > 0 {
			fmt.Fprintf(out, "REMOVED: %s\n", strings.Join(s.Removed, ", "))
		}
	}
	fmt.Fprintf(out, "DURATION: %s\n", time.Duration(s.Duration*float64(time.Second)).Round(time.Second))
	return nil
}
