package submit

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/insightgrid/insight/cli/deps"
	"github.com/insightgrid/insight/cli/exit"
)

// JobStatus is one job in --list; -o json|yaml prints the list as is.
type JobStatus struct {
	Name      string    `json:"name"`
	Driver    string    `json:"driverPod"`
	Phase     string    `json:"phase"`
	ExitCode  *int32    `json:"exitCode,omitempty"`
	Executors int       `json:"executors"`
	Main      string    `json:"main"`
	Created   time.Time `json:"created"`
}

// List prints the release's jobs: its driver pods, newest first, with their executors.
func List(ctx context.Context, d *deps.Deps, o *Options) error {
	if _, err := sparkConfig(ctx, d, o.Release); err != nil {
		return err
	}
	pods, err := d.Kube.CoreV1().Pods(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sparkSelector(o.Release) + "," + LabelApp})
	if err != nil {
		return fmt.Errorf("list the Spark pods of %s: %w", o.Release, err)
	}
	jobs := map[string]*JobStatus{}
	executors := map[string]int{}
	for _, p := range pods.Items {
		name := p.Labels[LabelApp]
		switch p.Labels[LabelRole] {
		case "driver":
			j := &JobStatus{Name: name, Driver: p.Name, Phase: string(p.Status.Phase), Main: p.Annotations[AnnotationMain], Created: p.CreationTimestamp.Time}
			if t := terminated(&p); t != nil {
				code := t.ExitCode
				j.ExitCode = &code
			}
			jobs[name] = j
		case "executor":
			if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
				executors[name]++
			}
		}
	}
	list := make([]JobStatus, 0, len(jobs))
	for name, j := range jobs {
		j.Executors = executors[name]
		list = append(list, *j)
	}
	sort.Slice(list, func(a, b int) bool {
		if !list[a].Created.Equal(list[b].Created) {
			return list[a].Created.After(list[b].Created)
		}
		return list[a].Name < list[b].Name
	})
	if done, err := d.IO.Print(list); done {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintf(d.IO.ErrOut, "No Spark jobs in release %s (namespace %s)\n", o.Release, d.Namespace)
		return nil
	}
	tw := tabwriter.NewWriter(d.IO.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPHASE\tEXIT CODE\tEXECUTORS\tAGE\tMAIN")
	for _, j := range list {
		code := "-"
		if j.ExitCode != nil {
			code = strconv.Itoa(int(*j.ExitCode))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", j.Name, j.Phase, code, j.Executors, d.Now().Sub(j.Created).Round(time.Second), j.Main)
	}
	return tw.Flush()
}

// Delete removes a job: its driver pod, whose executors (and --py ConfigMap) the garbage
// collector then removes through their owner reference.
func Delete(ctx context.Context, d *deps.Deps, o *Options) error {
	if _, err := sparkConfig(ctx, d, o.Release); err != nil {
		return err
	}
	pods := d.Kube.CoreV1().Pods(d.Namespace)
	name := DriverPodName(o.Delete)
	p, err := pods.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || (err == nil && p.Labels[LabelApp] != o.Delete) {
		return exit.BadInputError(fmt.Errorf("--delete %s: no such job in release %s (namespace %s); 'insightctl submit %s --list' shows them", o.Delete, o.Release, d.Namespace, o.Release))
	}
	if err != nil {
		return fmt.Errorf("read driver pod %s: %w", name, err)
	}
	background := metav1.DeletePropagationBackground
	if err := pods.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &background}); err != nil {
		return fmt.Errorf("delete driver pod %s: %w", name, err)
	}
	fmt.Fprintf(d.IO.ErrOut, "Deleted job %s: driver pod %s; its executors go with it\n", o.Delete, name)
	return nil
}
