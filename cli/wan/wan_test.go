package wan

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/insightgrid/insight/cli/exit"
	"github.com/insightgrid/insight/cli/internal/depstest"
	"github.com/insightgrid/insight/cli/internal/golden"
	"github.com/insightgrid/insight/grid/api"
)

// directOpts are the options reaching f by its URL, CA and token files.
func directOpts(f *fakeGateway) Options {
	return Options{Gateway: f.URL, CAFile: f.caFile, TokenFile: f.tokenFile, Timeout: 10 * time.Second}
}

func TestStatusTable(t *testing.T) {
	f := newFakeGateway(t, "paris", "tokyo")
	f.repairs = []api.WANRepair{
		{Target: "paris", ID: 1, State: api.WANRepairDone, Started: "2025-01-02T02:00:00Z", Finished: "2025-01-02T02:00:03Z", SlotsCompared: 16384, SlotsDiffering: 12, KeysSent: 340},
		{Target: "tokyo", ID: 2, State: api.WANRepairFailed, Started: "2025-01-02T02:10:00Z", Finished: "2025-01-02T02:10:01Z", SlotsCompared: 100, Error: "site tokyo's gateway answered 503"},
		{Target: "paris", ID: 3, State: api.WANRepairRunning, Started: "2025-01-02T03:03:05Z", SlotsCompared: 2048, SlotsDiffering: 1, KeysSent: 9},
	}
	w := depstest.New(t, "demo", nil)
	if err := RunStatus(context.Background(), w.Deps, directOpts(f)); err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, strings.ReplaceAll(w.Out.String(), f.URL, "https://gateway"), "status.golden")
	if strings.Contains(w.Out.String(), fakeToken) {
		t.Error("the status printed the operator token")
	}
}

func TestStatusWithoutTargetsOrRepairs(t *testing.T) {
	f := newFakeGateway(t)
	w := depstest.New(t, "demo", nil)
	if err := RunStatus(context.Background(), w.Deps, directOpts(f)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"No target sites", "No repairs"} {
		if !strings.Contains(w.Out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, w.Out)
		}
	}
}

// -o json prints the gateway's document whole: the per-partition status insightctl does
// not read too.
func TestStatusJSONIsTheGatewaysDocument(t *testing.T) {
	f := newFakeGateway(t, "paris")
	for _, format := range []string{"json", "yaml"} {
		w := depstest.New(t, "demo", nil)
		w.IO.Output = format
		if err := RunStatus(context.Background(), w.Deps, directOpts(f)); err != nil {
			t.Fatal(err)
		}
		out := w.Out.String()
		if format == "json" {
			var doc struct {
				Site       string                 `json:"site"`
				Partitions []map[string]any       `json:"partitions"`
				Targets    []api.WANGatewayTarget `json:"targets"`
			}
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("-o json is not JSON: %v\n%s", err, out)
			}
			if doc.Site != "london" || doc.Partitions[0]["outboxFull"] != "block" || doc.Targets[0].Site != "paris" || doc.Targets[0].OldestAckedHLC == 0 {
				t.Errorf("-o json lost part of the document:\n%s", out)
			}
		} else if !strings.Contains(out, "site: london") || !strings.Contains(out, "outboxFull: block") {
			t.Errorf("-o yaml:\n%s", out)
		}
	}
}

func TestSync(t *testing.T) {
	running := api.WANRepair{Target: "paris", ID: 1, State: api.WANRepairRunning, Started: "2025-01-02T03:00:00Z"}
	for _, c := range []struct {
		name     string
		target   string
		wait     bool
		timeout  time.Duration
		prepare  func(f *fakeGateway, o *SyncOptions)
		code     int
		want     []string // in the output, or the error when code != 0
		posts    int
		notInOut string
	}{
		{name: "started", target: "paris", code: 0, posts: 1,
			want: []string{"Repair 1 of site paris started by site london's gateway", "insightctl wan status"}},
		{name: "done", target: "tokyo", wait: true, posts: 1,
			prepare: func(f *fakeGateway, _ *SyncOptions) {
				f.progress = func(r *api.WANRepair) {
					*r = api.WANRepair{Target: r.Target, ID: r.ID, State: api.WANRepairDone, Started: r.Started, Finished: "2025-01-02T03:04:02.5Z", SlotsCompared: 16384, SlotsDiffering: 3, KeysSent: 77}
				}
			},
			want: []string{"waiting for it", "Repair 1 of site tokyo done in 2.5s: 16384 slots compared, 3 differing, 77 keys sent."}},
		{name: "failed", target: "paris", wait: true, code: exit.Failure, posts: 1,
			prepare: func(f *fakeGateway, _ *SyncOptions) {
				n := 0
				f.progress = func(r *api.WANRepair) {
					if n++; n == 3 { // running for two reads, then failed
						r.State, r.Finished, r.SlotsCompared, r.Error = api.WANRepairFailed, "2025-01-02T03:04:01Z", 512, "site paris's gateway answered 503 Service Unavailable"
					}
				}
			},
			want: []string{"repair 1 of site paris failed after 1s (512 slots compared", "site paris's gateway answered 503 Service Unavailable"}},
		{name: "wait times out", target: "paris", wait: true, timeout: 300 * time.Millisecond, code: exit.Timeout, posts: 1,
			want: []string{"repair 1 of site paris: still running (0 slots compared", "after --timeout 300ms"}},
		{name: "already running", target: "paris", code: exit.Failure, posts: 1,
			prepare: func(f *fakeGateway, _ *SyncOptions) {
				f.repairs = []api.WANRepair{running}
				f.syncStatus, f.syncMsg = 409, `a repair of site "paris" is running (id 1)`
			},
			want: []string{"a repair of site paris is already running (repair 1, started 2025-01-02T03:00:00Z)", `(id 1)`}},
		{name: "the gateway refuses the target", target: "paris", code: exit.BadInput, posts: 1,
			prepare: func(f *fakeGateway, _ *SyncOptions) {
				f.syncStatus, f.syncMsg = 400, `unknown target "paris": the targets are tokyo`
			},
			want: []string{"--target paris", `unknown target "paris": the targets are tokyo`}},
		{name: "unknown target, named before asking", target: "rome", code: exit.BadInput, posts: 0,
			want: []string{"--target: not a target site of site london's gateway; one of paris, tokyo (given: rome)"}},
		{name: "no token", target: "paris", code: exit.Failure, posts: 1,
			prepare: func(_ *fakeGateway, o *SyncOptions) { o.TokenFile = "" },
			want:    []string{"refused the request", "HTTP 401", "--token-file"}},
		{name: "wrong token", target: "paris", code: exit.Failure, posts: 1,
			prepare: func(_ *fakeGateway, o *SyncOptions) {
				o.TokenFile = filepath.Join(t.TempDir(), "other-token")
				if err := os.WriteFile(o.TokenFile, []byte("not-the-token"), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"HTTP 403"}, notInOut: "not-the-token"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeGateway(t, "paris", "tokyo")
			o := SyncOptions{Options: directOpts(f), Target: c.target, Wait: c.wait}
			if c.timeout > 0 {
				o.Timeout = c.timeout
			}
			if c.prepare != nil {
				c.prepare(f, &o)
			}
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			w := depstest.New(t, "demo", nil)
			err := RunSync(context.Background(), w.Deps, o)
			if got := exit.Code(err); got != c.code {
				t.Fatalf("exit code %d (%v), want %d\n%s", got, err, c.code, w.Out)
			}
			text := w.Out.String()
			if err != nil {
				text = err.Error()
			}
			for _, want := range c.want {
				if !strings.Contains(text, want) {
					t.Errorf("%q lacks %q", text, want)
				}
			}
			for _, secret := range []string{fakeToken, c.notInOut} {
				if secret != "" && (strings.Contains(text, secret) || strings.Contains(w.Out.String(), secret)) {
					t.Errorf("a token was printed: %q", text)
				}
			}
			if posts := f.postsMade(); len(posts) != c.posts {
				t.Errorf("POSTs %q, want %d", posts, c.posts)
			} else if c.posts > 0 && c.name == "started" && posts[0] != `paris token="`+fakeToken+`"` {
				t.Errorf("POST %q: want target paris with the token of --token-file", posts[0])
			}
		})
	}
}

// -o json prints the 202 answer, with --wait the repair as it ended.
func TestSyncJSON(t *testing.T) {
	f := newFakeGateway(t, "paris")
	f.progress = func(r *api.WANRepair) { r.State, r.Finished, r.KeysSent = api.WANRepairDone, "2025-01-02T03:04:05Z", 5 }
	for _, wait := range []bool{false, true} {
		w := depstest.New(t, "demo", nil)
		w.IO.Output = "json"
		if err := RunSync(context.Background(), w.Deps, SyncOptions{Options: directOpts(f), Target: "paris", Wait: wait}); err != nil {
			t.Fatal(err)
		}
		var r api.WANRepair
		if err := json.Unmarshal(w.Out.Bytes(), &r); err != nil {
			t.Fatalf("-o json: %v\n%s", err, w.Out)
		}
		if want := map[bool]string{false: api.WANRepairRunning, true: api.WANRepairDone}[wait]; r.Target != "paris" || r.State != want || (wait && r.KeysSent != 5) {
			t.Errorf("--wait=%v: %+v, want state %s", wait, r, want)
		}
	}
}

func TestUnreachableGateway(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	f := newFakeGateway(t, "paris")
	o := directOpts(f)
	o.Gateway = "https://" + addr
	w := depstest.New(t, "demo", nil)
	err = RunStatus(context.Background(), w.Deps, o)
	if exit.Code(err) != exit.Failure || !strings.Contains(err.Error(), "the WAN gateway at https://"+addr+" is unreachable") ||
		!strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "is the site running?") {
		t.Fatalf("unreachable gateway: %v", err)
	}
}

func TestGatewayOfAnotherCA(t *testing.T) {
	f := newFakeGateway(t, "paris")
	other := newFakeGateway(t, "paris")
	o := directOpts(f)
	o.CAFile = other.caFile
	err := RunStatus(context.Background(), depstest.New(t, "demo", nil).Deps, o)
	if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") || !strings.Contains(err.Error(), "--ca-file") {
		t.Fatalf("another CA: %v", err)
	}
}

func TestBadFilesAreNamed(t *testing.T) {
	f := newFakeGateway(t, "paris")
	dir := t.TempDir()
	empty, junk := filepath.Join(dir, "empty"), filepath.Join(dir, "junk")
	_ = os.WriteFile(empty, nil, 0o600)
	_ = os.WriteFile(junk, []byte("not a certificate"), 0o600)
	for _, c := range []struct {
		name string
		mod  func(o *Options)
		want string
	}{
		{"missing token file", func(o *Options) { o.TokenFile = filepath.Join(dir, "nope") }, "--token-file " + filepath.Join(dir, "nope") + ": open"},
		{"empty token file", func(o *Options) { o.TokenFile = empty }, "--token-file " + empty + ": the file is empty"},
		{"missing CA file", func(o *Options) { o.CAFile = filepath.Join(dir, "nope") }, "--ca-file " + filepath.Join(dir, "nope") + ": open"},
		{"CA file without a certificate", func(o *Options) { o.CAFile = junk }, "--ca-file " + junk + ": no PEM certificate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := directOpts(f)
			c.mod(&o)
			err := RunSync(context.Background(), depstest.New(t, "demo", nil).Deps, SyncOptions{Options: o, Target: "paris"})
			if exit.Code(err) != exit.BadInput || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%v (exit %d), want exit 2 and %q", err, exit.Code(err), c.want)
			}
			if len(f.postsMade()) != 0 {
				t.Fatal("the gateway was asked")
			}
		})
	}
}

func TestValidate(t *testing.T) {
	ok := Options{Release: "demo", Timeout: time.Second}
	for _, c := range []struct {
		name string
		o    SyncOptions
		want []string // nil: valid
	}{
		{"release", SyncOptions{Options: ok, Target: "paris"}, nil},
		{"gateway", SyncOptions{Options: Options{Gateway: "https://127.0.0.1:7005", CAFile: "ca", TokenFile: "t", Timeout: time.Second}, Target: "paris"}, nil},
		{"plain gateway", SyncOptions{Options: Options{Gateway: "http://127.0.0.1:7005/", Timeout: time.Second}, Target: "paris"}, nil},
		{"no target", SyncOptions{Options: ok}, []string{"--target: required"}},
		{"both", SyncOptions{Options: Options{Release: "demo", Gateway: "https://h:1", Timeout: time.Second}, Target: "p"}, []string{"RELEASE: give a release or --gateway, not both (given: demo)"}},
		{"files without gateway", SyncOptions{Options: Options{Release: "demo", CAFile: "ca", TokenFile: "t", Timeout: time.Second}, Target: "p"},
			[]string{"--ca-file: goes with --gateway", "--token-file: goes with --gateway"}},
		{"no port", SyncOptions{Options: Options{Gateway: "https://127.0.0.1", Timeout: time.Second}, Target: "p"}, []string{"--gateway: want the gateway's URL, https://HOST:PORT"}},
		{"a path", SyncOptions{Options: Options{Gateway: "https://127.0.0.1:7005/v1/wan/status", Timeout: time.Second}, Target: "p"}, []string{"--gateway: want"}},
		{"no scheme", SyncOptions{Options: Options{Gateway: "127.0.0.1:7005", Timeout: time.Second}, Target: "p"}, []string{"--gateway: want"}},
		{"CA with http", SyncOptions{Options: Options{Gateway: "http://127.0.0.1:7005", CAFile: "ca", Timeout: time.Second}, Target: "p"}, []string{"--ca-file: has no use with an http:// --gateway"}},
		{"timeout", SyncOptions{Options: Options{Release: "demo"}, Target: "p"}, []string{"--timeout: must be positive"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.o.Validate()
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if exit.Code(err) != exit.BadInput {
				t.Fatalf("%v: want bad input", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
		})
	}
	if err := (Options{Gateway: "https://h:1"}).Validate(); err == nil || !strings.Contains(err.Error(), "--timeout") {
		t.Errorf("status options: %v", err)
	}
}

// releaseObjects are release demo's objects as the charts make them: the gateway's
// Service and pods (one not ready), the manager StatefulSet mounting the TLS and token
// Secrets, and those Secrets holding f's CA and token.
func releaseObjects(f *fakeGateway) []runtime.Object {
	meta := func(name string, labels map[string]string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: "default", Labels: labels}
	}
	gwLabels := map[string]string{"app.kubernetes.io/instance": "demo", "app.kubernetes.io/component": "wan-gateway"}
	pod := func(name string, ready bool) *corev1.Pod {
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		return &corev1.Pod{ObjectMeta: meta(name, gwLabels),
			Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "gateway", Ports: []corev1.ContainerPort{{Name: "https-wan", ContainerPort: 8443}}}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}}}
	}
	mgrLabels := map[string]string{"app.kubernetes.io/instance": "demo", "app.kubernetes.io/component": "manager"}
	set := &appsv1.StatefulSet{ObjectMeta: meta("demo-insight-manager", mgrLabels)}
	set.Spec.Template.Spec.Volumes = []corev1.Volume{
		{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "demo-insight-tls"}}},
		{Name: "operator-token", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "demo-insight-operator-token", Items: []corev1.KeyToPath{{Key: "token", Path: "token"}}}}},
	}
	return []runtime.Object{
		&corev1.Service{ObjectMeta: meta("demo-insight-wan-gateway", gwLabels), Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app.kubernetes.io/instance": "demo", "app.kubernetes.io/component": "wan-gateway"},
			Ports:    []corev1.ServicePort{{Name: "https-wan", Port: 7443, TargetPort: intstr.FromString("https-wan")}}}},
		pod("demo-insight-wan-gateway-5d9f-a", false), pod("demo-insight-wan-gateway-5d9f-b", true),
		set,
		&corev1.Service{ObjectMeta: meta("demo-insight-manager", mgrLabels), Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 8090}}}},
		&corev1.Secret{ObjectMeta: meta("demo-insight-tls", nil), Data: map[string][]byte{"ca.crt": f.caPEM}},
		&corev1.Secret{ObjectMeta: meta("demo-insight-operator-token", nil), Data: map[string][]byte{"token": []byte(fakeToken)}},
	}
}

// A release's gateway is reached through a port-forward to its ready pod's gateway port,
// trusting the release's CA for localhost and presenting the release's token.
func TestReleaseGateway(t *testing.T) {
	f := newFakeGateway(t, "paris")
	_, port, err := net.SplitHostPort(strings.TrimPrefix(f.URL, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	local, _ := strconv.Atoi(port)
	w := depstest.New(t, "demo", map[string]any{"wanGateway": map[string]any{"enabled": true}}, releaseObjects(f)...)
	var forwarded []string
	ended := 0
	w.Forward = func(_ context.Context, namespace, pod string, p int) (int, func(), error) {
		forwarded = append(forwarded, namespace+"/"+pod+":"+strconv.Itoa(p))
		return local, func() { ended++ }, nil
	}
	o := Options{Release: "demo", Timeout: 10 * time.Second}
	if err := RunStatus(context.Background(), w.Deps, o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(w.Out.String(), "Site london, WAN gateway via a port-forward to pod demo-insight-wan-gateway-5d9f-b (Service demo-insight-wan-gateway)") {
		t.Errorf("status:\n%s", w.Out)
	}
	if err := RunSync(context.Background(), w.Deps, SyncOptions{Options: o, Target: "paris"}); err != nil {
		t.Fatal(err)
	}
	if want := "default/demo-insight-wan-gateway-5d9f-b:8443"; len(forwarded) != 2 || forwarded[0] != want || ended != 2 {
		t.Errorf("forwards %q (ended %d), want two to %s, both ended", forwarded, ended, want)
	}
	if posts := f.postsMade(); len(posts) != 1 || posts[0] != `paris token="`+fakeToken+`"` {
		t.Errorf("POSTs %q: want the release's token", posts)
	}
}

func TestReleaseWithoutGateway(t *testing.T) {
	f := newFakeGateway(t, "paris")
	objs := releaseObjects(f)[3:] // no gateway Service nor pods
	noForward := func(context.Context, string, string, int) (int, func(), error) {
		t.Fatal("forwarded without a gateway")
		return 0, nil, nil
	}
	for _, c := range []struct {
		name   string
		values map[string]any
		code   int
		want   string
	}{
		{"disabled", nil, exit.BadInput, "release demo has no WAN gateway: wanGateway.enabled is false; turn it on with insightctl upgrade demo --set wanGateway.enabled=true"},
		{"enabled, no Service yet", map[string]any{"wanGateway": map[string]any{"enabled": true}}, exit.Failure,
			"release demo has wanGateway.enabled=true but no Service demo-insight-wan-gateway with port 7443 in namespace default"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := depstest.New(t, "demo", c.values, objs...)
			w.Forward = noForward
			err := RunStatus(context.Background(), w.Deps, Options{Release: "demo", Timeout: 10 * time.Second})
			if exit.Code(err) != c.code || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%v (exit %d), want exit %d and %q", err, exit.Code(err), c.code, c.want)
			}
		})
	}
	w := depstest.New(t, "demo", nil)
	w.Forward = noForward
	if err := RunStatus(context.Background(), w.Deps, Options{Release: "other", Timeout: 10 * time.Second}); err == nil || !strings.Contains(err.Error(), "release other in namespace default") {
		t.Fatalf("a release that does not exist: %v", err)
	}
}

func TestReleaseGatewayWithoutRunningPod(t *testing.T) {
	f := newFakeGateway(t, "paris")
	objs := releaseObjects(f)
	objs = append(objs[:1], objs[3:]...) // the Service, no pod
	w := depstest.New(t, "demo", map[string]any{"wanGateway": map[string]any{"enabled": true}}, objs...)
	w.Forward = func(context.Context, string, string, int) (int, func(), error) { return 0, nil, nil }
	err := RunStatus(context.Background(), w.Deps, Options{Release: "demo", Timeout: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "has no running pod") || !strings.Contains(err.Error(), "kubectl -n default get pods -l") {
		t.Fatalf("no pod: %v", err)
	}
}

// A port-forward that fails, or leads to no gateway, is named with the pod it went to.
func TestReleaseGatewayUnreachable(t *testing.T) {
	f := newFakeGateway(t, "paris")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	for name, forward := range map[string]func(context.Context, string, string, int) (int, func(), error){
		"forward refused": func(context.Context, string, string, int) (int, func(), error) {
			return 0, nil, errors.New(`pods "demo-insight-wan-gateway-5d9f-b" is forbidden: cannot create resource "pods/portforward"`)
		},
		"nothing listens": func(context.Context, string, string, int) (int, func(), error) { return closed, func() {}, nil },
	} {
		t.Run(name, func(t *testing.T) {
			w := depstest.New(t, "demo", map[string]any{"wanGateway": map[string]any{"enabled": true}}, releaseObjects(f)...)
			w.Forward = forward
			err := RunStatus(context.Background(), w.Deps, Options{Release: "demo", Timeout: 10 * time.Second})
			if exit.Code(err) != exit.Failure || !strings.Contains(err.Error(), "the WAN gateway of release demo is unreachable via a port-forward to pod demo-insight-wan-gateway-5d9f-b") {
				t.Fatalf("%v", err)
			}
		})
	}
}
