package charts_test

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	"helm.sh/helm/v3/pkg/strvals"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/insightgrid/insight/charts"
	"github.com/insightgrid/insight/values"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ and the umbrella schema's subchart sections")

const (
	releaseName = "demo"
	namespace   = "insight"
)

// valueSet is one way a user reaches the chart: a profile (-f values/<name>.yaml) and
// --set strings, applied in that order as helm does.
type valueSet struct {
	name    string
	profile string
	sets    []string
}

// contract holds the value sets of the commands the design promises work as written
// (DESIGN.md §2); "upgrade" is the install after it with --reuse-values applied.
var contract = []valueSet{
	{name: "contract-partitions", sets: []string{"pu.partitions=3,pu.resources.limits.memory=512Mi"}},
	{name: "contract-ha-antiaffinity", sets: []string{"pu.ha=true,pu.antiAffinity.enabled=true"}},
	{name: "contract-upgrade-memory", sets: []string{"pu.ha=true,pu.antiAffinity.enabled=true", "pu.resources.limits.memory=600Mi"}},
}

// allSets is every profile plus the contract sets.
func allSets(t *testing.T) []valueSet {
	t.Helper()
	var sets []valueSet
	for _, p := range values.Names() {
		sets = append(sets, valueSet{name: "profile-" + p, profile: p})
	}
	return append(sets, contract...)
}

func (s valueSet) values(t *testing.T) map[string]any {
	t.Helper()
	vals := map[string]any{}
	if s.profile != "" {
		p, err := values.Load(s.profile)
		if err != nil {
			t.Fatal(err)
		}
		vals = p
	}
	for _, set := range s.sets {
		if err := strvals.ParseInto(set, vals); err != nil {
			t.Fatalf("--set %s: %v", set, err)
		}
	}
	return vals
}

// rendered is the result of a client-only install, as `helm install --dry-run` prints it.
type rendered struct {
	manifest string
	notes    string
}

// render installs the chart client-side, as `helm template` does, against Kubernetes 1.34.
func render(t *testing.T, c *chart.Chart, vals map[string]any) (rendered, error) {
	t.Helper()
	return renderWithAPIs(t, c, vals, nil)
}

// renderWithAPIs is render with extra API versions served, as `helm template
// --api-versions` passes them (e.g. "monitoring.coreos.com/v1/PodMonitor").
func renderWithAPIs(t *testing.T, c *chart.Chart, vals map[string]any, apis []string) (rendered, error) {
	t.Helper()
	cfg := &action.Configuration{
		Releases:     storage.Init(driver.NewMemory()),
		KubeClient:   &kubefake.PrintingKubeClient{Out: io.Discard},
		Capabilities: chartutil.DefaultCapabilities,
		Log:          func(string, ...any) {},
	}
	kv, err := chartutil.ParseKubeVersion("v1.34.4")
	if err != nil {
		t.Fatal(err)
	}
	install := action.NewInstall(cfg)
	install.DryRun = true
	install.ClientOnly = true
	install.Replace = true
	install.ReleaseName = releaseName
	install.Namespace = namespace
	install.KubeVersion = kv
	install.APIVersions = apis
	rel, err := install.Run(c, vals)
	if err != nil {
		return rendered{}, err
	}
	manifest := madeToken.ReplaceAllString(rel.Manifest, "${1}"+tokenPlaceholder)
	manifest = madeTLS.ReplaceAllString(manifest, "${1}"+tlsPlaceholder)
	return rendered{manifest: manifest, notes: rel.Info.Notes}, nil
}

// madeTLS is a key of the TLS Secret the chart makes at random on install (a new CA and
// certificate each render); renders compare with it replaced by tlsPlaceholder
// (tls_test.go checks the certificate itself).
var madeTLS = regexp.MustCompile(`(?m)(^  (?:tls\.crt|tls\.key|ca\.crt): )"[A-Za-z0-9+/=]+"$`)

// tlsPlaceholder is base64 of "made once on install, kept across upgrades".
const tlsPlaceholder = `"bWFkZSBvbmNlIG9uIGluc3RhbGwsIGtlcHQgYWNyb3NzIHVwZ3JhZGVz"`

// madeToken is the operator token the chart makes at random on install; renders compare
// with it replaced by tokenPlaceholder (operatortoken_test.go checks the token itself).
var madeToken = regexp.MustCompile(`(?m)(^kind: Secret\nmetadata:\n  name: [a-z0-9-]+-operator-token\n(?:.*\n)*?data:\n  token: )"[A-Za-z0-9+/=]+"$`)

// tokenPlaceholder is base64 of "made at random on install, kept across upgrades".
const tokenPlaceholder = `"bWFkZSBhdCByYW5kb20gb24gaW5zdGFsbCwga2VwdCBhY3Jvc3MgdXBncmFkZXM="`

// mustRender renders the embedded umbrella chart with a value set.
func mustRender(t *testing.T, s valueSet) rendered {
	t.Helper()
	c, err := charts.Load("")
	if err != nil {
		t.Fatal(err)
	}
	r, err := render(t, c, s.values(t))
	if err != nil {
		t.Fatalf("%s: %v", s.name, err)
	}
	return r
}

var strictDecoder = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

// decode splits a manifest and decodes every document strictly (unknown or duplicate
// fields fail) into its typed Kubernetes object.
func decode(t *testing.T, manifest string) []runtime.Object {
	t.Helper()
	var objs []runtime.Object
	for name, doc := range releaseutil.SplitManifests(manifest) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		obj, _, err := strictDecoder.Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("decode %s: %v\n%s", name, err, doc)
		}
		objs = append(objs, obj)
	}
	return objs
}

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./charts -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the render (run go test ./charts -update and review the diff):\n%s", path, firstDiff(want, got))
	}
}

func firstDiff(want, got []byte) string {
	w, g := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  want %q\n  got  %q", i+1, wl, gl)
		}
	}
	return "same lines, different bytes"
}

// addOnRender is a render of an add-on that must fail with every one of want or, with want
// empty, render its objects.
type addOnRender struct {
	name, chart, set string
	apis             []string
	want             []string
}

// checkAddOnRenders renders each case with its API versions served: the ones with want must
// fail naming them (an add-on refuses rather than drops its objects), the others must
// render an object of kind.
func checkAddOnRenders(t *testing.T, kind string, tests []addOnRender) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sets []string
			if tt.set != "" {
				sets = []string{tt.set}
			}
			r, err := renderWithAPIs(t, mustLoad(t, tt.chart), valueSet{sets: sets}.values(t), tt.apis)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("--set %s: %v", tt.set, err)
				}
				if !strings.Contains(r.manifest, "kind: "+kind) {
					t.Errorf("--set %s: no %s rendered", tt.set, kind)
				}
				return
			}
			if err == nil {
				t.Fatalf("--set %s rendered", tt.set)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not contain %q:\n%v", want, err)
				}
			}
		})
	}
}
