package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/insightgrid/insight/charts/promexpr"
	"github.com/insightgrid/insight/e2e/framework"
)

// podMonitor is the part of a monitoring.coreos.com/v1 PodMonitor the scrape
// configuration is generated from.
type podMonitor struct {
	Metadata struct{ Name, Namespace string }
	Spec     struct {
		NamespaceSelector struct {
			MatchNames []string `json:"matchNames"`
		} `json:"namespaceSelector"`
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		PodMetricsEndpoints []struct {
			Port, Path, Interval string
			ScrapeTimeout        string `json:"scrapeTimeout"`
			Scheme               string `json:"scheme"`
			TLSConfig            *struct {
				CA struct {
					Secret struct{ Name, Key string } `json:"secret"`
				} `json:"ca"`
				ServerName string `json:"serverName"`
			} `json:"tlsConfig"`
			Relabelings []struct {
				SourceLabels []string `json:"sourceLabels"`
				TargetLabel  string   `json:"targetLabel"`
				Regex        string   `json:"regex"`
				Replacement  *string  `json:"replacement"`
				Action       string   `json:"action"`
				Separator    *string  `json:"separator"`
			} `json:"relabelings"`
		} `json:"podMetricsEndpoints"`
	}
}

var notLabelChar = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// scrapeConfigs turns PodMonitors into Prometheus scrape jobs the way the Prometheus
// Operator does: pods discovered through the API server, kept when they carry the
// selector's labels and the endpoint's named container port, labelled namespace, pod,
// container, job and endpoint, then the monitor's own relabelings; an https endpoint
// trusts the CA of its tlsConfig, which secretFile writes to a file.
func scrapeConfigs(monitors []podMonitor, kubeconfig string, secretFile func(ns, name, key string) string) []map[string]any {
	var jobs []map[string]any
	for _, pm := range monitors {
		for i, ep := range pm.Spec.PodMetricsEndpoints {
			relabel := []map[string]any{
				{"source_labels": []string{"job"}, "target_label": "__tmp_prometheus_job_name"},
				{"action": "drop", "source_labels": []string{"__meta_kubernetes_pod_phase"}, "regex": "(Failed|Succeeded)"},
			}
			for k, v := range pm.Spec.Selector.MatchLabels {
				l := notLabelChar.ReplaceAllString(k, "_")
				relabel = append(relabel, map[string]any{"action": "keep",
					"source_labels": []string{"__meta_kubernetes_pod_label_" + l, "__meta_kubernetes_pod_labelpresent_" + l},
					"regex":         "(" + regexp.QuoteMeta(v) + ");true"})
			}
			relabel = append(relabel,
				map[string]any{"action": "keep", "source_labels": []string{"__meta_kubernetes_pod_container_port_name"}, "regex": ep.Port},
				map[string]any{"source_labels": []string{"__meta_kubernetes_namespace"}, "target_label": "namespace"},
				map[string]any{"source_labels": []string{"__meta_kubernetes_pod_container_name"}, "target_label": "container"},
				map[string]any{"source_labels": []string{"__meta_kubernetes_pod_name"}, "target_label": "pod"},
				map[string]any{"target_label": "job", "replacement": pm.Metadata.Namespace + "/" + pm.Metadata.Name},
				map[string]any{"target_label": "endpoint", "replacement": ep.Port})
			for _, r := range ep.Relabelings {
				m := map[string]any{}
				if len(r.SourceLabels) > 0 {
					m["source_labels"] = r.SourceLabels
				}
				if r.TargetLabel != "" {
					m["target_label"] = r.TargetLabel
				}
				if r.Regex != "" {
					m["regex"] = r.Regex
				}
				if r.Replacement != nil {
					m["replacement"] = *r.Replacement
				}
				if r.Action != "" {
					m["action"] = strings.ToLower(r.Action)
				}
				if r.Separator != nil {
					m["separator"] = *r.Separator
				}
				relabel = append(relabel, m)
			}
			job := map[string]any{
				"job_name":        fmt.Sprintf("podMonitor/%s/%s/%d", pm.Metadata.Namespace, pm.Metadata.Name, i),
				"metrics_path":    ep.Path,
				"relabel_configs": relabel,
				"kubernetes_sd_configs": []map[string]any{{
					"role": "pod", "kubeconfig_file": kubeconfig,
					"namespaces": map[string]any{"names": pm.Spec.NamespaceSelector.MatchNames},
				}},
			}
			if ep.Interval != "" {
				job["scrape_interval"] = ep.Interval
			}
			if ep.ScrapeTimeout != "" {
				job["scrape_timeout"] = ep.ScrapeTimeout
			}
			if ep.Scheme != "" {
				job["scheme"] = ep.Scheme
			}
			if c := ep.TLSConfig; c != nil {
				job["tls_config"] = map[string]any{"ca_file": secretFile(pm.Metadata.Namespace, c.CA.Secret.Name, c.CA.Secret.Key), "server_name": c.ServerName}
			}
			jobs = append(jobs, job)
		}
	}
	return jobs
}

// promAPI queries a Prometheus server's HTTP API.
type promAPI struct{ base string }

func (p promAPI) get(ctx context.Context, path string, q url.Values, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status, Error string
		Data          json.RawMessage
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("%s: %s: %w", path, body, err)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s %s: %s", path, q.Encode(), env.Error)
	}
	return json.Unmarshal(env.Data, into)
}

type promSample struct {
	Metric map[string]string `json:"metric"`
}

// query evaluates expr now and returns its series.
func (p promAPI) query(ctx context.Context, expr string) ([]promSample, error) {
	var data struct {
		Result []promSample `json:"result"`
	}
	err := p.get(ctx, "/api/v1/query", url.Values{"query": {expr}}, &data)
	return data.Result, err
}

// startPrometheus runs the Prometheus at bin with config and rules until the test ends.
func startPrometheus(t *testing.T, config, rules []byte) promAPI {
	t.Helper()
	bin := os.Getenv("INSIGHT_PROMETHEUS_BIN")
	if bin == "" {
		t.Fatal("INSIGHT_PROMETHEUS_BIN is not set: run the e2e tests through ci/e2e.sh, which sets it to the Prometheus ci/tools.sh builds")
	}
	dir := t.TempDir()
	for name, data := range map[string][]byte{"prometheus.yml": config, "rules.yml": rules} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	logFile, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
		if t.Failed() {
			if out, err := os.ReadFile(logFile.Name()); err == nil {
				t.Logf("prometheus log:\n%s", tail(string(out), 40))
			}
		}
	})
	p := promAPI{base: "http://" + addr}
	cluster.WaitFor(t, 30*time.Second, "prometheus ready", func(ctx context.Context) (bool, error) {
		var cfg struct{ YAML string }
		return p.get(ctx, "/api/v1/status/config", nil, &cfg) == nil, nil
	})
	return p
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestPrometheusAddOnInARealPrometheus installs the suite with the Prometheus add-on
// (the Prometheus Operator's CRDs installed in the API server), runs a real Prometheus
// with the scrape jobs generated from the PodMonitors the release created and the rules of
// its PrometheusRule, and checks that every grid pod is scraped, that killing a primary
// fires InsightFailover, and that every series selector of every rule and dashboard panel
// returns series and every expression evaluates.
func TestPrometheusAddOnInARealPrometheus(t *testing.T) {
	crds := os.Getenv("INSIGHT_PROMETHEUS_CRDS")
	if crds == "" {
		t.Fatal("INSIGHT_PROMETHEUS_CRDS is not set: run the e2e tests through ci/e2e.sh, which sets it to what ci/tools.sh fetched")
	}
	kubectlOK(t, "apply", "--server-side", "-f", crds)
	t.Cleanup(func() { kubectl(t, "delete", "--ignore-not-found", "--wait=false", "-f", crds) })
	kubectlOK(t, "wait", "--for", "condition=established", "--timeout", "60s", "-f", crds)

	ns := cluster.Namespace(t, "prom")
	insightctlOK(t, "install", "demo", "-n", ns, "--profile", "ha", "--partitions", "2", "--enable", "prometheus",
		"--set", "prometheus.podMonitors.interval=2s,prometheus.podMonitors.scrapeTimeout=1s", "--timeout", "4m")

	var monitors struct{ Items []podMonitor }
	if err := json.Unmarshal([]byte(kubectlOK(t, "get", "podmonitors", "-n", ns, "-o", "json")), &monitors); err != nil {
		t.Fatal(err)
	}
	var ruleObjs struct {
		Items []struct {
			Spec struct {
				Groups []map[string]any `json:"groups"`
			}
		}
	}
	if err := json.Unmarshal([]byte(kubectlOK(t, "get", "prometheusrules", "-n", ns, "-o", "json")), &ruleObjs); err != nil {
		t.Fatal(err)
	}
	if len(monitors.Items) != 2 || len(ruleObjs.Items) != 1 {
		t.Fatalf("%d PodMonitors and %d PrometheusRules in %s, want 2 and 1", len(monitors.Items), len(ruleObjs.Items), ns)
	}
	groups := ruleObjs.Items[0].Spec.Groups
	config, err := yaml.Marshal(map[string]any{
		"global":     map[string]any{"scrape_interval": "2s", "evaluation_interval": "2s"},
		"rule_files": []string{"rules.yml"},
		"scrape_configs": scrapeConfigs(monitors.Items, cluster.Kubeconfig, func(ns, name, key string) string {
			s, err := cluster.Client.CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("the scrape's CA, Secret %s/%s: %v", ns, name, err)
			}
			path := filepath.Join(t.TempDir(), name+"-"+key)
			if err := os.WriteFile(path, s.Data[key], 0o600); err != nil {
				t.Fatal(err)
			}
			return path
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := yaml.Marshal(map[string]any{"groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	prom := startPrometheus(t, config, rules)

	// Every manager and data pod is a target, and up.
	pods, err := cluster.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=demo"})
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, p := range pods.Items {
		if c := p.Labels["app.kubernetes.io/component"]; (c == "pu" || c == "manager") && p.Status.Phase == corev1.PodRunning {
			want++
		}
	}
	cluster.WaitFor(t, 90*time.Second, fmt.Sprintf("%d grid pods scraped and up", want), func(ctx context.Context) (bool, error) {
		up, err := prom.query(ctx, fmt.Sprintf(`up{namespace=%q,insight_release="demo"} == 1`, ns))
		return err == nil && len(up) == want, nil
	})
	cluster.WaitFor(t, 60*time.Second, "recording rules evaluated", func(ctx context.Context) (bool, error) {
		s, err := prom.query(ctx, fmt.Sprintf(`insight:partition_serving:sum{namespace=%q} == 1`, ns))
		return err == nil && len(s) == 2, nil
	})

	// Kill partition 0's primary, found through Prometheus as an operator would.
	primaries, err := prom.query(context.Background(), fmt.Sprintf(`insight_grid_serving{namespace=%q,partition="0"} == 1`, ns))
	if err != nil || len(primaries) != 1 {
		t.Fatalf("partition 0's primary: %v, %v", primaries, err)
	}
	victim := primaries[0].Metric["pod"]
	pod, err := cluster.Client.CoreV1().Pods(ns).Get(context.Background(), victim, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A crash, not a pod deletion: a deleted primary hands its partition over first, which is
	// not a failover.
	pid, err := pidListening(pod.Status.PodIP, 6379)
	if err != nil {
		t.Fatalf("the process of %s: %v", victim, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d (%s): %v", pid, victim, err)
	}
	killed := time.Now()
	alert := fmt.Sprintf(`ALERTS{alertname="InsightFailover",alertstate="firing",namespace=%q,insight_release="demo",partition="0"}`, ns)
	cluster.WaitFor(t, 90*time.Second, "InsightFailover firing", func(ctx context.Context) (bool, error) {
		s, err := prom.query(ctx, alert)
		return err == nil && len(s) == 1, nil
	})
	t.Logf("killed primary %s; InsightFailover fired %s later", victim, time.Since(killed).Round(100*time.Millisecond))

	checkEveryExpression(t, prom, ns, groups)
}

// pidListening returns the process listening on ip:port (IPv4) on this host, where the
// node agent runs the pods' processes: the socket's inode from /proc/net/tcp, then the
// process holding it.
func pidListening(ip string, port int) (int, error) {
	addr := net.ParseIP(ip).To4()
	if addr == nil {
		return 0, fmt.Errorf("%q is not an IPv4 address", ip)
	}
	// /proc/net/tcp writes the address as the little-endian hex of its 32 bits.
	local := fmt.Sprintf("%02X%02X%02X%02X:%04X", addr[3], addr[2], addr[1], addr[0], port)
	table, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return 0, err
	}
	inode := ""
	for _, line := range strings.Split(string(table), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 9 && f[1] == local && f[3] == "0A" { // 0A: LISTEN
			inode = f[9]
		}
	}
	if inode == "" {
		return 0, fmt.Errorf("nothing listens on %s:%d", ip, port)
	}
	procs, err := filepath.Glob("/proc/[0-9]*/fd/*")
	if err != nil {
		return 0, err
	}
	for _, fd := range procs {
		if target, err := os.Readlink(fd); err == nil && target == "socket:["+inode+"]" {
			return strconv.Atoi(strings.Split(fd, "/")[2])
		}
	}
	return 0, fmt.Errorf("no process holds the socket listening on %s:%d (inode %s)", ip, port, inode)
}

// dashboardVars are what Grafana substitutes in the dashboards' queries, here for
// release demo in ns.
func dashboardVars(ns string) *strings.Replacer {
	return strings.NewReplacer("$namespace", ns, "$release", "demo", "$partition", ".*",
		"$__rate_interval", "1m", "$__range", "10m")
}

// checkEveryExpression evaluates every expression of the rule groups and of the
// dashboards the release installed in ns, and queries each metric selector in them: each
// must evaluate without error and each selector must return series (a healthy alert's
// whole expression is empty by design; the series it reads are not).
func checkEveryExpression(t *testing.T, prom promAPI, ns string, groups []map[string]any) {
	t.Helper()
	var exprs []string
	for _, g := range groups {
		for _, r := range g["rules"].([]any) {
			exprs = append(exprs, r.(map[string]any)["expr"].(string))
		}
	}
	cms, err := cluster.Client.CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "grafana_dashboard=1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cms.Items) != 4 {
		t.Errorf("%d dashboard ConfigMaps in %s, want 4", len(cms.Items), ns)
	}
	vars := dashboardVars(ns)
	for _, cm := range cms.Items {
		for _, data := range cm.Data {
			var d struct {
				Panels []struct {
					Targets []struct{ Expr string } `json:"targets"`
				} `json:"panels"`
			}
			if err := json.Unmarshal([]byte(data), &d); err != nil {
				t.Fatalf("ConfigMap %s: %v", cm.Name, err)
			}
			for _, p := range d.Panels {
				for _, q := range p.Targets {
					exprs = append(exprs, vars.Replace(q.Expr))
				}
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	selectors := map[string]bool{}
	for _, e := range exprs {
		if _, err := prom.query(ctx, e); err != nil {
			t.Errorf("expression does not evaluate: %v", err)
		}
		for _, s := range promexpr.Selectors(e) {
			selectors[s.String()] = true
		}
	}
	// Recorded series appear at the first evaluation after their inputs; wait for them
	// rather than racing the rule evaluation.
	empty := func() []string {
		var out []string
		for s := range selectors {
			if r, err := prom.query(ctx, s); err != nil || len(r) == 0 {
				out = append(out, fmt.Sprintf("%s (%v)", s, err))
			}
		}
		return out
	}
	var missing []string
	err = framework.Poll(30*time.Second, func(context.Context) (bool, error) {
		missing = empty()
		return len(missing) == 0, nil
	})
	if err != nil {
		t.Errorf("selectors without series in Prometheus: %s", strings.Join(missing, ", "))
	}
	t.Logf("%d expressions evaluated, %d distinct selectors, each returning series", len(exprs), len(selectors))
}
