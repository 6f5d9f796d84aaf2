// Package submit runs insightctl submit: a Spark job in a release's namespace, started by
// creating the job's driver pod from the insight-spark chart's driver template, the way
// spark-submit's cluster mode would create it, but running spark-submit in client mode
// inside that pod (in-cluster client mode). The driver then creates its executors with the
// chart's executor template and ServiceAccount. The job is followed until its driver ends:
// its phase, the executors started, the driver's log, and its exit code as insightctl's.
//
// It must not depend on cobra: the command copies its flags into Options, checks them with
// Validate and calls Run, List or Delete with the dependency set.
package submit

import (
	"fmt"
	"os"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/insightgrid/insight/cli/validate"
)

// Options are submit's parameters.
type Options struct {
	// Release is the Helm release whose Spark chart the job runs with.
	Release   string
	Namespace string
	// Class is --class, the main class of a --jar job.
	Class string
	// Jar is --jar, a local:// path in the image or an http(s) URL.
	Jar string
	// Py is --py: a local:// path in the image, an http(s) URL, or a file on this machine
	// (shipped to the driver in a ConfigMap).
	Py string
	// Args are the job's arguments (after --).
	Args []string
	// Executors is --executors (0: the chart's spark.executor.instances).
	Executors int
	// ExecutorsSet says --executors was given, so that 0 is refused rather than ignored.
	ExecutorsSet   bool
	ExecutorMemory string
	// Conf are --conf key=value, in order.
	Conf []string
	// Name is --name, the job's name (default: from the class or file and the time).
	Name    string
	Wait    bool
	Timeout time.Duration
	// StartTimeout bounds how long the driver may take to start running (scheduling and
	// the image pull); past it the job is reported with what holds it.
	StartTimeout time.Duration
	// List is --list: the release's jobs.
	List bool
	// Delete is --delete NAME: remove that job.
	Delete string
}

// MaxNameLength keeps every pod name Spark derives from the job's name ("<name>-exec-<n>")
// within Spark's executor pod name prefix limit (47) and Kubernetes' 63.
const MaxNameLength = 40

// MaxPyFileSize is the largest --py file shipped in a ConfigMap (its limit is 1 MiB).
const MaxPyFileSize = 900 << 10

var (
	nameRE   = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)
	confKey  = regexp.MustCompile(`^spark\.[A-Za-z0-9._/-]+$`)
	memoryRE = regexp.MustCompile(`^[1-9][0-9]*[mMgG]$`)
	classRE  = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)*$`)
)

// reserved are the conf keys submit sets for the driver to work in its pod; --conf cannot
// change them.
var reserved = map[string]string{
	"spark.master":                            "the API server from the pod's KUBERNETES_SERVICE_HOST/PORT",
	"spark.submit.deployMode":                 "client mode inside the driver pod",
	"spark.driver.host":                       "the driver pod's IP",
	"spark.driver.bindAddress":                "the driver pod's IP",
	"spark.kubernetes.driver.pod.name":        "the driver pod, which owns the executors",
	"spark.kubernetes.executor.podNamePrefix": "the job's name (--name)",
	"spark.app.name":                          "the job's name (--name)",
}

// Validate checks the options without a cluster, reporting every problem at once.
func (o *Options) Validate() error {
	var problems []validate.Problem
	add := func(key string, value any, msg string) {
		problems = append(problems, validate.Problem{Key: key, Value: value, Message: msg})
	}
	job := o.Class != "" || o.Jar != "" || o.Py != "" || len(o.Args) > 0 || o.ExecutorsSet || o.ExecutorMemory != "" || len(o.Conf) > 0 || o.Name != ""
	switch {
	case o.List && o.Delete != "":
		add("--list", true, "cannot be combined with --delete: list the jobs, then delete one")
	case o.List || o.Delete != "":
		flag := "--list"
		if o.Delete != "" {
			flag = "--delete"
			if !nameRE.MatchString(o.Delete) {
				add("--delete", o.Delete, "not a job name; 'insightctl submit --list' shows them")
			}
		}
		if job {
			add(flag, orTrue(o.Delete), "takes no job flags (--class, --jar, --py, --executors, --executor-memory, --conf, --name, arguments)")
		}
		if len(problems) > 0 {
			return &validate.Error{Problems: problems}
		}
		return nil
	}
	switch {
	case o.Jar == "" && o.Py == "":
		add("--jar", "", "missing: give --jar local:///path/in/the/image.jar with --class, or --py FILE")
	case o.Jar != "" && o.Py != "":
		add("--py", o.Py, "cannot be combined with --jar: a job runs one main resource")
	case o.Jar != "":
		if !remoteOrLocal(o.Jar) || !strings.HasSuffix(o.Jar, ".jar") {
			add("--jar", o.Jar, "want a .jar as local:///path in the Spark image (e.g. local:///opt/insight/examples/insight-examples.jar) or an http(s):// URL")
		}
		if o.Class == "" {
			add("--class", "", "missing: a --jar job needs its main class, e.g. --class io.insightgrid.examples.SparkPi")
		}
	case o.Py != "":
		if !strings.HasSuffix(o.Py, ".py") {
			add("--py", o.Py, "want a .py file: a path on this machine, local:///path in the Spark image, or an http(s):// URL")
		} else if !remoteOrLocal(o.Py) {
			if st, err := os.Stat(o.Py); err != nil {
				add("--py", o.Py, "cannot read it: "+err.Error())
			} else if st.Size() > MaxPyFileSize {
				add("--py", o.Py, fmt.Sprintf("%d bytes: a file on this machine is shipped in a ConfigMap, at most %d bytes; put larger jobs in the image or behind an http(s) URL", st.Size(), MaxPyFileSize))
			}
		}
		if o.Class != "" {
			add("--class", o.Class, "applies to --jar only: a --py job's main is the file")
		}
	}
	if o.Class != "" && !classRE.MatchString(o.Class) {
		add("--class", o.Class, "not a Java class name, e.g. io.insightgrid.examples.SparkPi")
	}
	if o.ExecutorsSet && o.Executors < 1 {
		add("--executors", o.Executors, "must be at least 1 (leave it out for the release's spark.executor.instances)")
	}
	if o.ExecutorMemory != "" && !memoryRE.MatchString(o.ExecutorMemory) {
		add("--executor-memory", o.ExecutorMemory, "want Spark's format: a number of MiB or GiB, e.g. 512m or 2g")
	}
	for _, c := range o.Conf {
		k, v, ok := strings.Cut(c, "=")
		switch {
		case !ok || v == "":
			add("--conf", c, "want key=value, e.g. --conf spark.sql.shuffle.partitions=64")
		case !confKey.MatchString(k):
			add("--conf", c, "the key must be a Spark property, spark.<name> (Spark ignores others)")
		case reserved[k] != "":
			add("--conf", c, "set by insightctl submit: "+reserved[k])
		}
	}
	if o.Name != "" && (len(o.Name) > MaxNameLength || !nameRE.MatchString(o.Name)) {
		add("--name", o.Name, fmt.Sprintf("want lowercase letters, digits and '-', starting with a letter, at most %d characters (the pods are named after it)", MaxNameLength))
	}
	if o.Timeout <= 0 {
		add("--timeout", o.Timeout.String(), "must be positive, e.g. 30m")
	}
	if o.StartTimeout <= 0 {
		add("--start-timeout", o.StartTimeout.String(), "must be positive, e.g. 5m")
	}
	if len(problems) > 0 {
		return &validate.Error{Problems: problems}
	}
	return nil
}

func orTrue(s string) any {
	if s == "" {
		return true
	}
	return s
}

// remoteOrLocal reports whether a resource is in the image (local://) or behind a URL.
func remoteOrLocal(s string) bool {
	switch {
	case strings.HasPrefix(s, "local:///"):
		return len(s) > len("local:///")
	case strings.HasPrefix(s, "http://"), strings.HasPrefix(s, "https://"):
		return true
	}
	return false
}

// JobName is --name, else the main class's or file's short name with the time, e.g.
// "sparkpi-20250102-030405".
func (o *Options) JobName(now time.Time) string {
	if o.Name != "" {
		return o.Name
	}
	base := o.Class
	if i := strings.LastIndex(base, "."); i >= 0 {
		base = base[i+1:]
	}
	if o.Py != "" {
		base = strings.TrimSuffix(path.Base(o.Py), ".py")
	}
	var b strings.Builder
	for _, r := range strings.ToLower(base) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9' && b.Len() > 0:
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	short := strings.Trim(b.String(), "-")
	if len(short) > 24 {
		short = strings.Trim(short[:24], "-")
	}
	if short == "" {
		short = "job"
	}
	return short + "-" + now.UTC().Format("20060102-150405")
}
