package charts_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"sigs.k8s.io/yaml"
)

const tokenSecret = releaseName + "-insight-operator-token"

// secrets is a cluster holding objs, all Secrets, and no StatefulSet.
func secrets(objs ...runtime.Object) cluster {
	lists := map[schema.GroupVersionResource]string{
		{Version: "v1", Resource: "secrets"}:                     "SecretList",
		{Group: "apps", Version: "v1", Resource: "statefulsets"}: "StatefulSetList", // the chart's other lookups
	}
	return cluster{client: dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), lists, objs...)}
}

// installedToken is the operator token Secret an earlier install made, holding token.
func installedToken(token string) *unstructured.Unstructured {
	s := &unstructured.Unstructured{}
	s.SetAPIVersion("v1")
	s.SetKind("Secret")
	s.SetNamespace(namespace)
	s.SetName(tokenSecret)
	_ = unstructured.SetNestedField(s.Object, map[string]any{"token": base64.StdEncoding.EncodeToString([]byte(token))}, "data")
	return s
}

// renderObjects renders the umbrella chart with --set set against cl, as an install
// (upgrade false) or an upgrade, and returns the objects by "Kind/name".
func renderObjects(t *testing.T, cl cluster, upgrade bool, set string) map[string]map[string]any {
	t.Helper()
	c := mustLoad(t, "")
	vals := valueSet{sets: []string{set}}.values(t)
	if err := chartutil.ProcessDependenciesWithMerge(c, vals); err != nil {
		t.Fatal(err)
	}
	opts := chartutil.ReleaseOptions{Name: releaseName, Namespace: namespace, IsInstall: !upgrade, IsUpgrade: upgrade, Revision: 1}
	if upgrade {
		opts.Revision = 2
	}
	top, err := chartutil.ToRenderValues(c, vals, opts, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	files, err := engine.RenderWithClientProvider(c, top, cl)
	if err != nil {
		t.Fatalf("--set %s: %v", set, err)
	}
	return objectsByKindName(t, files)
}

// madeTokenOf is the token of the chart's operator token Secret, decoded ("" if none).
func madeTokenOf(t *testing.T, objs map[string]map[string]any) string {
	t.Helper()
	s, ok := objs["Secret/"+tokenSecret]
	if !ok {
		return ""
	}
	enc, _, _ := unstructured.NestedString(s, "data", "token")
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		t.Fatalf("token %q is not base64: %v", enc, err)
	}
	return string(b)
}

// tokenWiring checks that the pod template of the workload key mounts the token of
// secret (key) as /etc/insight/operator-token/token and names it in
// INSIGHT_OPERATOR_TOKEN_FILE, or has neither when secret is "".
func tokenWiring(t *testing.T, objs map[string]map[string]any, key, secret, secretKey string) {
	t.Helper()
	sts, ok := objs[key]
	if !ok {
		t.Fatalf("no %s rendered", key)
	}
	spec, _, _ := unstructured.NestedMap(sts, "spec", "template", "spec")
	var vol map[string]any
	vols, _, _ := unstructured.NestedSlice(spec, "volumes")
	for _, v := range vols {
		if v.(map[string]any)["name"] == "operator-token" {
			vol = v.(map[string]any)
		}
	}
	ctr := spec["containers"].([]any)[0].(map[string]any)
	env, mounted := "", false
	for _, e := range ctr["env"].([]any) {
		if e.(map[string]any)["name"] == "INSIGHT_OPERATOR_TOKEN_FILE" {
			env, _ = e.(map[string]any)["value"].(string)
		}
	}
	for _, m := range ctr["volumeMounts"].([]any) {
		mm := m.(map[string]any)
		if mm["name"] == "operator-token" {
			mounted = mm["mountPath"] == "/etc/insight/operator-token" && mm["readOnly"] == true && mm["subPath"] == nil
		}
	}
	if secret == "" {
		if vol != nil || env != "" || mounted {
			t.Fatalf("%s: operator token wired (volume %v, env %q, mounted %v), want none", key, vol, env, mounted)
		}
		return
	}
	name, _, _ := unstructured.NestedString(vol, "secret", "secretName")
	items, _, _ := unstructured.NestedSlice(vol, "secret", "items")
	if name != secret || len(items) != 1 || items[0].(map[string]any)["key"] != secretKey || items[0].(map[string]any)["path"] != "token" {
		t.Fatalf("%s: operator-token volume %v, want Secret %s key %s as the file token", key, vol, secret, secretKey)
	}
	if env != "/etc/insight/operator-token/token" || !mounted {
		t.Fatalf("%s: INSIGHT_OPERATOR_TOKEN_FILE %q, mounted %v; want the directory mount's token file", key, env, mounted)
	}
}

func TestOperatorTokenIsMadeOnInstallAndMountedInManagersAndPUs(t *testing.T) {
	first := renderObjects(t, secrets(), false, "pu.partitions=2")
	second := renderObjects(t, secrets(), false, "pu.partitions=2")
	a, b := madeTokenOf(t, first), madeTokenOf(t, second)
	if len(a) != 64 || len(b) != 64 || a == b {
		t.Fatalf("tokens of two installs %q and %q: want two different random 64-character tokens", a, b)
	}
	for _, key := range []string{"StatefulSet/" + releaseName + "-insight-manager", "StatefulSet/" + releaseName + "-insight-pu-0", "StatefulSet/" + releaseName + "-insight-pu-1"} {
		tokenWiring(t, first, key, tokenSecret, "token")
	}
}

func TestOperatorTokenIsKeptAcrossUpgrades(t *testing.T) {
	const kept = "kept-token-0123456789abcdef0123456789abcdef0123456789abcdef0123"
	objs := renderObjects(t, secrets(installedToken(kept)), true, "pu.partitions=1")
	if got := madeTokenOf(t, objs); got != kept {
		t.Fatalf("upgrade rendered the token %q, want the installed one %q", got, kept)
	}
}

func TestOperatorTokenFromAnExistingSecret(t *testing.T) {
	objs := renderObjects(t, secrets(), false, "global.operatorToken.existingSecret=gitops-token,global.operatorToken.existingSecretKey=op")
	if _, ok := objs["Secret/"+tokenSecret]; ok {
		t.Fatal("the chart made its own token Secret beside existingSecret")
	}
	tokenWiring(t, objs, "StatefulSet/"+releaseName+"-insight-manager", "gitops-token", "op")
	tokenWiring(t, objs, "StatefulSet/"+releaseName+"-insight-pu-0", "gitops-token", "op")
}

func TestOperatorTokenDisabled(t *testing.T) {
	objs := renderObjects(t, secrets(), false, "global.operatorToken.enabled=false")
	if _, ok := objs["Secret/"+tokenSecret]; ok {
		t.Fatal("global.operatorToken.enabled=false still made the token Secret")
	}
	tokenWiring(t, objs, "StatefulSet/"+releaseName+"-insight-manager", "", "")
	tokenWiring(t, objs, "StatefulSet/"+releaseName+"-insight-pu-0", "", "")
}

// objectsByKindName parses a render's YAML files into their objects, keyed "Kind/name".
func objectsByKindName(t *testing.T, files map[string]string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for name, doc := range files {
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		for _, part := range strings.Split(doc, "\n---") {
			var o map[string]any
			if err := yaml.Unmarshal([]byte(part), &o); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if o == nil {
				continue
			}
			md, _ := o["metadata"].(map[string]any)
			out[o["kind"].(string)+"/"+md["name"].(string)] = o
		}
	}
	return out
}
