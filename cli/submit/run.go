package submit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/insightgrid/insight/cli/deps"
	"github.com/insightgrid/insight/cli/exit"
)

// Summary is what submit prints at the end; -o json|yaml prints it as is.
type Summary struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Release   string `json:"release"`
	Driver    string `json:"driverPod"`
	// Phase is the driver pod's last phase seen ("" without --wait).
	Phase string `json:"phase,omitempty"`
	// ExitCode is the driver's, once it ended.
	ExitCode *int32 `json:"exitCode,omitempty"`
	// Executors is the most executor pods seen at once.
	Executors int     `json:"executors"`
	Duration  float64 `json:"durationSeconds"`
}

// Run submits the job and, with Wait, follows it until its driver ends.
func Run(ctx context.Context, d *deps.Deps, o *Options) error {
	start := d.Now()
	cm, err := sparkConfig(ctx, d, o.Release)
	if err != nil {
		return err
	}
	tmpl, err := ParseTemplate(cm.Data["driver-pod-template.yaml"])
	if err != nil {
		return fmt.Errorf("ConfigMap %s: %w", cm.Name, err)
	}
	job := Job{Name: o.JobName(d.Now()), Namespace: d.Namespace, Options: o, Owner: cm}
	pods := d.Kube.CoreV1().Pods(d.Namespace)
	if old, err := pods.Get(ctx, DriverPodName(job.Name), metav1.GetOptions{}); err == nil {
		return exit.BadInputError(fmt.Errorf("--name %s: a job of that name exists (driver pod %s, %s); delete it with 'insightctl submit %s --delete %s' or choose another --name",
			job.Name, old.Name, old.Status.Phase, o.Release, job.Name))
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("look for job %s: %w", job.Name, err)
	}
	var py *corev1.ConfigMap
	if o.Py != "" && !remoteOrLocal(o.Py) {
		if py, err = createPyConfigMap(ctx, d, job, cm); err != nil {
			return err
		}
		job.PyConfigMap = py.Name
	}
	driver, err := pods.Create(ctx, DriverPod(tmpl, job), metav1.CreateOptions{})
	if err != nil {
		if py != nil {
			_ = d.Kube.CoreV1().ConfigMaps(d.Namespace).Delete(ctx, py.Name, metav1.DeleteOptions{})
		}
		return fmt.Errorf("create driver pod %s: %w", DriverPodName(job.Name), err)
	}
	if py != nil {
		// The file's ConfigMap goes with the driver pod.
		patch := fmt.Sprintf(`{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"Pod","name":%q,"uid":%q}]}}`, driver.Name, driver.UID)
		if _, err := d.Kube.CoreV1().ConfigMaps(d.Namespace).Patch(ctx, py.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("make driver pod %s the owner of ConfigMap %s: %w", driver.Name, py.Name, err)
		}
	}
	w := d.IO.ErrOut
	fmt.Fprintf(w, "Submitted job %s to release %s in namespace %s: driver pod %s\n", job.Name, o.Release, d.Namespace, driver.Name)
	sum := Summary{Name: job.Name, Namespace: d.Namespace, Release: o.Release, Driver: driver.Name}
	if !o.Wait {
		fmt.Fprintf(w, "Not waiting: follow it with 'kubectl logs -f -n %s %s', list jobs with 'insightctl submit %s --list'\n", d.Namespace, driver.Name, o.Release)
		return printSummary(d, sum, start)
	}
	mu := new(sync.Mutex)
	f := &follower{d: d, job: job.Name, release: o.Release, pod: driver.Name, timeout: o.Timeout, startTimeout: o.StartTimeout,
		out: lockedWriter{mu, d.IO.Out}, errOut: lockedWriter{mu, d.IO.ErrOut}}
	if d.IO.Structured() {
		f.out = f.errOut
	}
	err = f.follow(ctx, &sum)
	if err != nil {
		return err
	}
	return printSummary(d, sum, start)
}

// createPyConfigMap ships a --py file from this machine to the driver.
func createPyConfigMap(ctx context.Context, d *deps.Deps, job Job, spark *corev1.ConfigMap) (*corev1.ConfigMap, error) {
	data, err := os.ReadFile(job.Options.Py)
	if err != nil {
		return nil, fmt.Errorf("--py %s: %w", job.Options.Py, err)
	}
	labels := map[string]string{LabelApp: job.Name}
	for _, k := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component", "app.kubernetes.io/part-of"} {
		if v, ok := spark.Labels[k]; ok {
			labels[k] = v
		}
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: job.Name + "-py", Namespace: job.Namespace, Labels: labels},
		Data:       map[string]string{path.Base(job.Options.Py): string(data)},
	}
	created, err := d.Kube.CoreV1().ConfigMaps(job.Namespace).Create(ctx, cm, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create ConfigMap %s for --py %s: %w", cm.Name, job.Options.Py, err)
	}
	return created, nil
}

func printSummary(d *deps.Deps, s Summary, start time.Time) error {
	s.Duration = d.Now().Sub(start).Round(time.Millisecond).Seconds()
	if done, err := d.IO.Print(s); done {
		return err
	}
	out := d.IO.Out
	if d.IO.Structured() {
		return nil
	}
	fmt.Fprintf(out, "JOB: %s\nNAMESPACE: %s\nDRIVER: %s\n", s.Name, s.Namespace, s.Driver)
	if s.Phase != "" {
		fmt.Fprintf(out, "PHASE: %s\n", s.Phase)
	}
	if s.ExitCode != nil {
		fmt.Fprintf(out, "EXIT CODE: %d\nEXECUTORS: %d\n", *s.ExitCode, s.Executors)
	}
	return nil
}

// errDriverGone is the driver pod deleted while followed.
var errDriverGone = errors.New("the driver pod was deleted")
