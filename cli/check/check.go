// Package check runs `insightctl check`, the grid's connectivity test: a short-lived Job in
// the release's namespace runs `insight-grid check` (a cluster client that writes unique
// keys and reads them back), while the CLI optionally disrupts the grid with the user's
// own credentials (a planned failover through the manager, or the deletion of a primary
// pod). It then reads the check's result from the Job's log, deletes the Job, and reports
// acknowledged and lost writes, the longest write gap, latency and the partition map.
//
// The Job has no Kubernetes rights and no manager credential: it only writes and verifies.
// The package reads and changes the cluster through the Cluster interface and must not
// depend on cobra.
package check

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/insightgrid/insight/cli/deps"
	"github.com/insightgrid/insight/cli/exit"
	"github.com/insightgrid/insight/cli/internal/grid"
	"github.com/insightgrid/insight/cli/manager"
	"github.com/insightgrid/insight/cli/validate"
	"github.com/insightgrid/insight/grid/api"
)

// Disruptions --disrupt accepts.
const (
	None        = "none"
	Switchover  = "switchover"
	KillPrimary = "kill-primary"
)

// Disruptions lists them in the order the help shows.
var Disruptions = []string{None, Switchover, KillPrimary}

// SchemaVersion names the JSON schema of Report; it changes only with a breaking change.
const SchemaVersion = "insight.dev/check-report/v1"

// Options are a check's parameters.
type Options struct {
	Release string
	// Disrupt is None, Switchover or KillPrimary; Partition the partition disrupted.
	Disrupt   string
	Partition int
	// Force allows a disruption of a release without pu.ha (its partitions have no
	// backup: a disruption makes them unavailable and may lose their data).
	Force bool
	// Duration of the writing, Rate writes per second in all, Writers clients.
	Duration time.Duration
	Rate     int
	Writers  int
	// Timeout bounds the whole check, from the Job's creation to its result.
	Timeout    time.Duration
	ManagerURL string
}

// Limits of the options.
const (
	MinDuration = 5 * time.Second
	MaxDuration = 30 * time.Minute
	MaxRate     = 10000
	MaxWriters  = 64
)

// Validate checks the options without a cluster.
func (o Options) Validate() error {
	var problems []validate.Problem
	if !contains(Disruptions, o.Disrupt) {
		problems = append(problems, validate.Problem{Key: "--disrupt", Value: o.Disrupt, Message: "must be one of " + strings.Join(Disruptions, ", ")})
	}
	if o.Partition < 0 {
		problems = append(problems, validate.Problem{Key: "--partition", Value: o.Partition, Message: "must be a partition number: 0, 1, ... (insightctl status lists them)"})
	}
	if o.Duration < MinDuration || o.Duration > MaxDuration {
		problems = append(problems, validate.Problem{Key: "--duration", Value: o.Duration.String(), Message: fmt.Sprintf("must be %s to %s", MinDuration, MaxDuration)})
	}
	if o.Rate < 1 || o.Rate > MaxRate {
		problems = append(problems, validate.Problem{Key: "--rate", Value: o.Rate, Message: fmt.Sprintf("must be 1 to %d writes per second", MaxRate)})
	}
	if o.Writers < 1 || o.Writers > MaxWriters {
		problems = append(problems, validate.Problem{Key: "--writers", Value: o.Writers, Message: fmt.Sprintf("must be 1 to %d", MaxWriters)})
	}
	if o.Timeout != 0 && o.Timeout <= o.Duration {
		problems = append(problems, validate.Problem{Key: "--timeout", Value: o.Timeout.String(), Message: fmt.Sprintf("must be longer than --duration %s (default: --duration + %s)", o.Duration, slack)})
	}
	problems = append(problems, manager.CheckURL(o.ManagerURL)...)
	if len(problems) > 0 {
		return &validate.Error{Problems: problems}
	}
	return nil
}

// slack is what the check needs beyond --duration by default: the pod's start, the
// read-back, the Job's end.
const slack = 3 * time.Minute

// timeout is --timeout, or its default.
func (o Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return o.Duration + slack
}

// Report is what the check prints (-o json|yaml): its figures and what was done.
type Report struct {
	SchemaVersion string `json:"schemaVersion"`
	Release       string `json:"release"`
	Namespace     string `json:"namespace"`
	// Job is the name of the Job that ran the writers (deleted since).
	Job        string      `json:"job"`
	Disruption *Disruption `json:"disruption"`
	// Writes are the check's figures.
	Writes Writes `json:"writes"`
	// Partitions is the partition map the writers saw at the end.
	Partitions []Partition `json:"partitions"`
}

// Disruption is what the CLI did while the writers ran.
type Disruption struct {
	Kind      string `json:"kind"`
	Partition int    `json:"partition"`
	// Pod is the primary pod deleted (kill-primary); Switch the manager's answer
	// (switchover), e.g. "partition 0: p0-i0 -> p0-i1, epoch 3, write pause 1.20 ms".
	Pod    string `json:"pod,omitempty"`
	Switch string `json:"switch,omitempty"`
	// AfterSeconds is when it happened, from when insightctl saw the first acknowledged
	// write in the pod's log.
	AfterSeconds float64 `json:"afterSeconds"`
}

// Writes are the writers' figures (api.CheckReport, in the units the CLI shows).
type Writes struct {
	DurationSeconds float64  `json:"durationSeconds"`
	Rate            int      `json:"rate"`
	Writers         int      `json:"writers"`
	Attempted       int64    `json:"attempted"`
	Acknowledged    int64    `json:"acknowledged"`
	Failed          int64    `json:"failed"`
	Lost            int64    `json:"lost"`
	LostKeys        []string `json:"lostKeys,omitempty"`
	Unverified      int64    `json:"unverified"`
	LongestGapMs    float64  `json:"longestGapMs"`
	// GapAfterSeconds is when the longest gap began, from the start of the writing.
	GapAfterSeconds float64  `json:"gapAfterSeconds"`
	P50Ms           float64  `json:"p50Ms"`
	P99Ms           float64  `json:"p99Ms"`
	MaxMs           float64  `json:"maxMs"`
	Errors          []string `json:"errors,omitempty"`
	Error           string   `json:"error,omitempty"`
}

// Partition is one slot range of the map and the pods serving it.
type Partition struct {
	// ID is the partition number; -1 when no known pod serves the range.
	ID      int    `json:"id"`
	Slots   string `json:"slots"`
	Primary string `json:"primary"`
	// Backups are the other instances of the range.
	Backups []string `json:"backups"`
}

// Cluster is what the check reads and changes in the release's namespace.
type Cluster interface {
	// DataPods are the release's data pods.
	DataPods(ctx context.Context) ([]corev1.Pod, error)
	// Create creates the ServiceAccount and the Job.
	Create(ctx context.Context, w *Workload) error
	// Job is the state of the Job name.
	Job(ctx context.Context, name string) (JobState, error)
	// Logs is the log of the pod's container.
	Logs(ctx context.Context, pod string) ([]byte, error)
	// DeletePod deletes a pod the way kubectl delete pod does.
	DeletePod(ctx context.Context, name string) error
	// Delete removes the Job, its pods and the ServiceAccount; what is gone already is fine.
	Delete(ctx context.Context, name string) error
}

// JobState is what the check needs of its Job.
type JobState struct {
	// Pod is the Job's pod, nil while there is none.
	Pod *corev1.Pod
	// Failed is why the Job failed (its Failed condition), "" while it has not.
	Failed string
}

// Failover asks the manager for a planned switch-over of a partition.
type Failover func(ctx context.Context, partition int) (*api.SwitchResult, error)

// Check runs the check against c and prints the report. It fails (exit code 1) when an
// acknowledged write was lost or could not be verified.
func Check(ctx context.Context, d *deps.Deps, o Options, c Cluster, failover Failover) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout())
	defer cancel()
	pods, err := c.DataPods(ctx)
	if err != nil {
		return fmt.Errorf("list the data pods of release %s: %w", o.Release, err)
	}
	w, err := NewWorkload(o, d.Namespace, pods, newSuffix())
	if err != nil {
		return err
	}
	progress := func(format string, args ...any) {
		fmt.Fprintf(d.IO.ErrOut, "check: "+format+"\n", args...)
	}
	if err := c.Create(ctx, w); err != nil {
		// A half-created pair (the ServiceAccount without the Job) is removed too.
		cleanup(ctx, d, c, w.Job.Name)
		return fmt.Errorf("create the check's Job %s: %w", w.Job.Name, err)
	}
	defer cleanup(ctx, d, c, w.Job.Name)
	progress("Job %s created: %d writers, %d writes/s for %s", w.Job.Name, o.Writers, o.Rate, o.Duration)

	started, err := waitStarted(ctx, d, c, w.Job.Name)
	if err != nil {
		return explain(ctx, o, err)
	}
	writing := time.Now()
	progress("writing (first write acknowledged)")

	var dis *Disruption
	if o.Disrupt != None && started != nil {
		// A third into the writing: enough before for a baseline, enough after to see
		// the grid recover.
		select {
		case <-ctx.Done():
			return explain(ctx, o, ctx.Err())
		case <-time.After(o.Duration / 3):
		}
		dis, err = disrupt(ctx, o, c, failover, started)
		if err != nil {
			return err
		}
		dis.AfterSeconds = seconds(time.Since(writing))
		if dis.Pod != "" {
			progress("deleted primary pod %s of partition %d", dis.Pod, dis.Partition)
		} else {
			progress("%s", dis.Switch)
		}
	}

	result, err := waitResult(ctx, d, c, w.Job.Name)
	if err != nil {
		return explain(ctx, o, err)
	}
	if pods, err = c.DataPods(ctx); err != nil {
		return fmt.Errorf("list the data pods of release %s: %w", o.Release, err)
	}
	r := &Report{SchemaVersion: SchemaVersion, Release: o.Release, Namespace: d.Namespace, Job: w.Job.Name,
		Disruption: dis, Writes: writes(result), Partitions: partitions(result.Slots, pods)}
	if done, err := d.IO.Print(r); done {
		if err != nil {
			return err
		}
	} else if err := render(d.IO.Out, r); err != nil {
		return err
	}
	return verdict(result)
}

// explain turns the end of the deadline into the documented timeout.
func explain(ctx context.Context, o Options, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return exit.TimeoutError(fmt.Errorf("check: not done within --timeout %s: %w", o.timeout(), err))
	}
	return err
}

// verdict is the check's outcome: nil when every acknowledged write was read back.
func verdict(r *api.CheckReport) error {
	switch {
	case r.Lost > 0:
		return fmt.Errorf("check: %d of %d acknowledged writes lost (first: %s)", r.Lost, r.Acknowledged, strings.Join(r.LostKeys, ", "))
	case r.Error != "":
		return fmt.Errorf("check: the writers did not finish: %s", r.Error)
	case r.Unverified > 0:
		return fmt.Errorf("check: %d of %d acknowledged writes could not be read back (the grid refused the reads until the deadline): neither confirmed nor lost", r.Unverified, r.Acknowledged)
	}
	return nil
}

// cleanup deletes the Job and its ServiceAccount, also after a failure or Ctrl-C.
func cleanup(ctx context.Context, d *deps.Deps, c Cluster, name string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := c.Delete(ctx, name); err != nil {
		fmt.Fprintf(d.IO.ErrOut, "check: could not delete the Job %s: %v; delete it with: kubectl delete job,serviceaccount %s -n %s\n", name, err, name, d.Namespace)
	}
}

// waitStarted waits until the check's pod printed its started document, or ended.
func waitStarted(ctx context.Context, d *deps.Deps, c Cluster, name string) (*api.CheckReport, error) {
	var started *api.CheckReport
	err := poll(ctx, d, func() (bool, error) {
		st, err := c.Job(ctx, name)
		if err != nil {
			return false, fmt.Errorf("read the Job %s: %w", name, err)
		}
		if st.Failed != "" {
			return false, fmt.Errorf("the Job %s failed: %s", name, st.Failed)
		}
		if st.Pod == nil {
			return false, nil
		}
		switch st.Pod.Status.Phase {
		case corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed:
		default:
			return false, nil
		}
		log, err := c.Logs(ctx, st.Pod.Name)
		if err != nil {
			return false, nil // the log may not be served yet: ask again
		}
		s, res, err := api.ParseCheckLog(log)
		if err != nil {
			return false, err
		}
		if res != nil && s == nil {
			return false, fmt.Errorf("the check ended before its first write was acknowledged: %s", res.Error)
		}
		started = s
		return s != nil || ended(st.Pod), nil
	})
	return started, err
}

// waitResult waits for the check's pod to end and returns its result.
func waitResult(ctx context.Context, d *deps.Deps, c Cluster, name string) (*api.CheckReport, error) {
	var pod *corev1.Pod
	err := poll(ctx, d, func() (bool, error) {
		st, err := c.Job(ctx, name)
		if err != nil {
			return false, fmt.Errorf("read the Job %s: %w", name, err)
		}
		pod = st.Pod
		if pod != nil && ended(pod) {
			return true, nil
		}
		if st.Failed != "" {
			return false, fmt.Errorf("the Job %s failed: %s", name, st.Failed)
		}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	log, err := c.Logs(ctx, pod.Name)
	if err != nil {
		return nil, fmt.Errorf("read the log of the check's pod %s: %w", pod.Name, err)
	}
	_, res, err := api.ParseCheckLog(log)
	if err != nil {
		return nil, err
	}
	if res == nil {
		return nil, fmt.Errorf("the check's pod %s ended (%s) without a result; its log ends:\n%s", pod.Name, pod.Status.Phase, tail(string(log), 10))
	}
	return res, nil
}

func ended(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// poll calls done every poll interval until it reports true or fails, or ctx ends.
func poll(ctx context.Context, d *deps.Deps, done func() (bool, error)) error {
	every := d.PollInterval
	if every <= 0 {
		every = time.Second
	}
	for {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

// disrupt does what --disrupt asks, with the user's credentials.
func disrupt(ctx context.Context, o Options, c Cluster, failover Failover, started *api.CheckReport) (*Disruption, error) {
	dis := &Disruption{Kind: o.Disrupt, Partition: o.Partition}
	switch o.Disrupt {
	case Switchover:
		res, err := failover(ctx, o.Partition)
		if err != nil {
			return nil, fmt.Errorf("check --disrupt %s: failover of partition %d: %w", o.Disrupt, o.Partition, err)
		}
		dis.Switch = res.String()
	case KillPrimary:
		pods, err := c.DataPods(ctx)
		if err != nil {
			return nil, fmt.Errorf("check --disrupt %s: list the data pods: %w", o.Disrupt, err)
		}
		pod := primaryPod(started.Slots, pods, o.Partition)
		if pod == "" {
			return nil, fmt.Errorf("check --disrupt %s: no pod serves as the primary of partition %d in the writers' slot map %v", o.Disrupt, o.Partition, started.Slots)
		}
		if err := c.DeletePod(ctx, pod); err != nil {
			return nil, fmt.Errorf("check --disrupt %s: delete pod %s: %w", o.Disrupt, pod, err)
		}
		dis.Pod = pod
	}
	return dis, nil
}

// byAddress finds the data pod at a RESP address (pod IP:port).
func byAddress(pods []corev1.Pod, addr string) (grid.Pod, bool) {
	host := addr
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		host = addr[:i]
	}
	for i := range pods {
		if pods[i].Status.PodIP == host && pods[i].DeletionTimestamp == nil {
			g := grid.Classify(&pods[i])
			if g.Kind == grid.Data {
				return g, true
			}
		}
	}
	return grid.Pod{}, false
}

// primaryPod is the pod serving as partition's primary in the slot map, "" if none.
func primaryPod(slots []api.SlotRange, pods []corev1.Pod, partition int) string {
	for _, s := range slots {
		if g, ok := byAddress(pods, s.Primary()); ok && g.Partition == partition {
			return g.Pod.Name
		}
	}
	return ""
}

// partitions names the pods of the slot map.
func partitions(slots []api.SlotRange, pods []corev1.Pod) []Partition {
	out := []Partition{}
	name := func(addr string) (string, int) {
		if g, ok := byAddress(pods, addr); ok {
			return fmt.Sprintf("%s (%s)", g.Pod.Name, addr), g.Partition
		}
		return addr, -1
	}
	for _, s := range slots {
		p := Partition{ID: -1, Slots: fmt.Sprintf("%d-%d", s.From, s.To), Backups: []string{}}
		for i, n := range s.Nodes {
			pod, id := name(n)
			if i == 0 {
				p.Primary, p.ID = pod, id
				continue
			}
			p.Backups = append(p.Backups, pod)
		}
		out = append(out, p)
	}
	return out
}

func writes(r *api.CheckReport) Writes {
	w := Writes{
		DurationSeconds: seconds(r.Ended.Sub(r.Started)), Rate: r.Rate, Writers: r.Writers,
		Attempted: r.Attempted, Acknowledged: r.Acknowledged, Failed: r.Failed, Lost: r.Lost,
		LostKeys: r.LostKeys, Unverified: r.Unverified, LongestGapMs: ms(r.LongestGapMicros),
		P50Ms: ms(r.P50Micros), P99Ms: ms(r.P99Micros), MaxMs: ms(r.MaxMicros), Errors: r.Errors, Error: r.Error,
	}
	if !r.GapStart.IsZero() {
		w.GapAfterSeconds = seconds(r.GapStart.Sub(r.Started))
	}
	return w
}

func ms(micros int64) float64 { return float64(micros) / 1000 }

func seconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}
