package check

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/insightgrid/insight/cli/internal/grid"
)

// Labels of the check's objects. They carry no app.kubernetes.io/instance, so that the
// release's selectors (Services, PodDisruptionBudgets, status) never count the check's pod.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelComponent = "app.kubernetes.io/component"
	LabelRelease   = "insight.dev/check-of"
	// Component is the component label's value.
	Component = "check"
)

// respPort is the data pods' RESP port when their container does not name one.
const respPort = 6379

// ttlAfterFinished lets the cluster remove a Job the CLI could not delete (it was killed).
const ttlAfterFinished = 600

// Workload is what the check creates: a ServiceAccount without rights and the Job.
type Workload struct {
	ServiceAccount *corev1.ServiceAccount
	Job            *batchv1.Job
}

// newSuffix makes the objects' names unique per run.
var newSuffix = func() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// NewWorkload builds the check's objects for the release's data pods: the image, its pull
// policy and secrets, and the RESP password's source come from a data pod; the pods'
// addresses are the writers' seeds.
func NewWorkload(o Options, namespace string, pods []corev1.Pod, suffix string) (*Workload, error) {
	var tpl *corev1.Pod
	var seeds []string
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	for i := range pods {
		p := &pods[i]
		if grid.Classify(p).Kind != grid.Data || len(p.Spec.Containers) == 0 {
			continue
		}
		if tpl == nil {
			tpl = p
		}
		if p.Status.PodIP != "" && p.DeletionTimestamp == nil {
			seeds = append(seeds, netJoin(p.Status.PodIP, port(&p.Spec.Containers[0])))
		}
	}
	if tpl == nil {
		return nil, fmt.Errorf("release %s has no data pods in namespace %s: is it installed (insightctl status)?", o.Release, namespace)
	}
	if len(seeds) == 0 {
		return nil, fmt.Errorf("release %s: no data pod has an address yet: wait until it runs (insightctl status)", o.Release)
	}
	name := fmt.Sprintf("%s-insight-check-%s", o.Release, suffix)
	labels := map[string]string{LabelName: "insight-check", LabelComponent: Component, LabelManagedBy: "insightctl", LabelRelease: o.Release}
	meta := metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels}
	src := tpl.Spec.Containers[0]
	env := []corev1.EnvVar{
		{Name: "INSIGHT_ADDRS", Value: strings.Join(seeds, ",")},
		{Name: "INSIGHT_DURATION", Value: o.Duration.String()},
		{Name: "INSIGHT_RATE", Value: strconv.Itoa(o.Rate)},
		{Name: "INSIGHT_WRITERS", Value: strconv.Itoa(o.Writers)},
		{Name: "INSIGHT_PREFIX", Value: "insight-check:" + suffix + ":"},
	}
	for _, e := range src.Env {
		if e.Name == "INSIGHT_REQUIREPASS" {
			env = append(env, e) // the same Secret the data pods read: the Job never sees it in its spec
		}
	}
	// The pod may run until the writing, the read-back (at most a minute) and a margin end.
	deadline := int64((o.Duration + 2*time.Minute).Seconds())
	job := &batchv1.Job{
		ObjectMeta: meta,
		Spec: batchv1.JobSpec{
			BackoffLimit:            ptrTo(int32(0)),
			ActiveDeadlineSeconds:   ptrTo(deadline),
			TTLSecondsAfterFinished: ptrTo(int32(ttlAfterFinished)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName:           name,
					AutomountServiceAccountToken: ptrTo(false),
					EnableServiceLinks:           ptrTo(false),
					RestartPolicy:                corev1.RestartPolicyNever,
					ImagePullSecrets:             tpl.Spec.ImagePullSecrets,
					NodeSelector:                 tpl.Spec.NodeSelector,
					Tolerations:                  tpl.Spec.Tolerations,
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptrTo(true),
						RunAsUser:      ptrTo(int64(65532)),
						RunAsGroup:     ptrTo(int64(65532)),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					TerminationGracePeriodSeconds: ptrTo(int64(5)),
					Containers: []corev1.Container{{
						Name:            "check",
						Image:           src.Image,
						ImagePullPolicy: src.ImagePullPolicy,
						Args:            []string{"check"},
						Env:             env,
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi"), corev1.ResourceEphemeralStorage: resource.MustParse("16Mi")},
							Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi"), corev1.ResourceEphemeralStorage: resource.MustParse("128Mi")},
						},
						SecurityContext: &corev1.SecurityContext{
							RunAsNonRoot:             ptrTo(true),
							ReadOnlyRootFilesystem:   ptrTo(true),
							AllowPrivilegeEscalation: ptrTo(false),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
							SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
						},
					}},
				},
			},
		},
	}
	sa := &corev1.ServiceAccount{ObjectMeta: meta, AutomountServiceAccountToken: ptrTo(false)}
	return &Workload{ServiceAccount: sa, Job: job}, nil
}

// port is the container's RESP port.
func port(c *corev1.Container) int32 {
	for _, p := range c.Ports {
		if p.Name == "resp" {
			return p.ContainerPort
		}
	}
	return respPort
}

func netJoin(host string, port int32) string {
	if strings.Contains(host, ":") {
		return fmt.Sprintf("[%s]:%d", host, port)
	}
	return fmt.Sprintf("%s:%d", host, port)
}

func ptrTo[T any](v T) *T { return &v }
