package submit

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// Labels and annotations of a job's pods.
const (
	// LabelApp names the job on its driver and executor pods; --list and --delete use it.
	LabelApp = "insight.io/spark-app"
	// LabelRole is Spark's own: driver or executor.
	LabelRole = "spark-role"
	// AnnotationMain is the driver's main class or file, shown by --list.
	AnnotationMain = "insight.io/spark-main"
	// DriverContainer is the container name Spark gives the driver.
	DriverContainer = "spark-kubernetes-driver"
	// pyDir is where a --py file from this machine is mounted in the driver.
	pyDir = "/opt/insight/job"
)

// Env variables the chart's driver template sets and the driver's arguments refer to.
const (
	envPodIP    = "SPARK_LOCAL_IP"
	envPodName  = "SPARK_DRIVER_POD_NAME"
	envPassword = "INSIGHT_GRID_PASSWORD"
)

// Job is one job as the driver pod carries it.
type Job struct {
	Name      string
	Namespace string
	Options   *Options
	// PyConfigMap is the ConfigMap holding a --py file from this machine ("" for none).
	PyConfigMap string
	// Owner is the chart's Spark ConfigMap: deleting the release deletes its jobs.
	Owner *corev1.ConfigMap
}

// DriverPodName is the driver pod's name for a job.
func DriverPodName(job string) string { return job + "-driver" }

// ParseTemplate reads the chart's driver pod template and checks that it carries what the
// driver's arguments rely on.
func ParseTemplate(text string) (*corev1.Pod, error) {
	var p corev1.Pod
	if err := yaml.UnmarshalStrict([]byte(text), &p); err != nil {
		return nil, fmt.Errorf("driver pod template: %w", err)
	}
	if len(p.Spec.Containers) != 1 {
		return nil, fmt.Errorf("driver pod template: %d containers, want 1", len(p.Spec.Containers))
	}
	for _, name := range []string{envPodIP, envPodName} {
		if findEnv(p.Spec.Containers[0].Env, name) == nil {
			return nil, fmt.Errorf("driver pod template: no %s variable (a chart older than this insightctl? upgrade the release)", name)
		}
	}
	return &p, nil
}

// DriverPod builds the job's driver pod from the chart's template: its name and labels,
// the release's Spark ConfigMap as owner, and spark-submit in client mode as the image
// entrypoint's pass-through command (Spark's /opt/entrypoint.sh runs anything that is not
// "driver" or "executor" under tini).
func DriverPod(tmpl *corev1.Pod, job Job) *corev1.Pod {
	p := tmpl.DeepCopy()
	p.TypeMeta = metav1.TypeMeta{}
	p.Name, p.Namespace = DriverPodName(job.Name), job.Namespace
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	p.Labels[LabelApp] = job.Name
	p.Labels[LabelRole] = "driver"
	p.Labels["app.kubernetes.io/managed-by"] = "insightctl"
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	o := job.Options
	main := o.Class
	if o.Py != "" {
		main = o.Py
	}
	p.Annotations[AnnotationMain] = main
	if job.Owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: job.Owner.Name, UID: job.Owner.UID}}
	}
	c := &p.Spec.Containers[0]
	c.Command = nil
	c.Args = driverArgs(job, findEnv(c.Env, envPassword) != nil)
	if job.PyConfigMap != "" {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "job", VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: job.PyConfigMap}}}})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "job", MountPath: pyDir, ReadOnly: true})
	}
	return p
}

// driverArgs is the spark-submit command line of the driver. $(VAR) references expand from
// the container's environment (Kubernetes does it, and the local cluster's node agent): the
// API server is the pod's KUBERNETES_SERVICE_HOST/PORT rather than kubernetes.default.svc,
// and the driver binds and advertises the pod's IP, which executors reach it at.
func driverArgs(job Job, password bool) []string {
	o := job.Options
	conf := func(k, v string) []string { return []string{"--conf", k + "=" + v} }
	args := []string{"/opt/spark/bin/spark-submit",
		"--master", "k8s://https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)",
		"--deploy-mode", "client",
		"--name", job.Name,
	}
	args = append(args, conf("spark.driver.host", "$("+envPodIP+")")...)
	args = append(args, conf("spark.driver.bindAddress", "$("+envPodIP+")")...)
	args = append(args, conf("spark.kubernetes.driver.pod.name", "$("+envPodName+")")...)
	args = append(args, conf("spark.kubernetes.executor.podNamePrefix", job.Name)...)
	args = append(args, conf("spark.kubernetes.executor.label."+LabelApp, job.Name)...)
	if password {
		args = append(args, conf("spark.redis.auth", "$("+envPassword+")")...)
		args = append(args, conf("spark.insight.sql.password", "$("+envPassword+")")...)
	}
	if o.ExecutorsSet {
		args = append(args, conf("spark.executor.instances", strconv.Itoa(o.Executors))...)
	}
	if o.ExecutorMemory != "" {
		args = append(args, conf("spark.executor.memory", strings.ToLower(o.ExecutorMemory))...)
	}
	for _, c := range o.Conf {
		args = append(args, "--conf", escape(c))
	}
	if o.Jar != "" {
		args = append(args, "--class", o.Class, o.Jar)
	} else {
		args = append(args, pyResource(job))
	}
	for _, a := range o.Args {
		args = append(args, escape(a))
	}
	return args
}

// pyResource is the --py file as the driver sees it.
func pyResource(job Job) string {
	if job.PyConfigMap != "" {
		return path.Join(pyDir, path.Base(job.Options.Py))
	}
	return job.Options.Py
}

// escape keeps the user's "$(" from being expanded by Kubernetes ("$$" is a literal "$").
func escape(s string) string { return strings.ReplaceAll(s, "$(", "$$(") }

func findEnv(env []corev1.EnvVar, name string) *corev1.EnvVar {
	for i := range env {
		if env[i].Name == name {
			return &env[i]
		}
	}
	return nil
}
