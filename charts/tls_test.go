package charts_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
)

const (
	tlsSecret   = releaseName + "-insight-tls"
	managerSts  = "StatefulSet/" + releaseName + "-insight-manager"
	tlsMountDir = "/etc/insight/tls"
)

// mountsTLS gives the StatefulSet s the pod template volume "tls" the chart mounts with
// global.tls.enabled: the mark of a release installed with TLS.
func mountsTLS(s *unstructured.Unstructured) *unstructured.Unstructured {
	_ = unstructured.SetNestedSlice(s.Object, []any{map[string]any{"name": "tls", "secret": map[string]any{"secretName": tlsSecret}}},
		"spec", "template", "spec", "volumes")
	return s
}

// tlsCluster is a cluster holding objs: Secrets and StatefulSets.
func tlsCluster(objs ...runtime.Object) cluster {
	lists := map[schema.GroupVersionResource]string{
		{Version: "v1", Resource: "secrets"}:                     "SecretList",
		{Group: "apps", Version: "v1", Resource: "statefulsets"}: "StatefulSetList",
	}
	return cluster{client: dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), lists, objs...)}
}

// renderTLS renders the umbrella chart with --set sets against cl, as an install or an
// upgrade, with the extra API versions apis served, and returns the objects by
// "Kind/name", or the render's error.
func renderTLS(t *testing.T, cl cluster, upgrade bool, apis []string, sets ...string) (map[string]map[string]any, error) {
	t.Helper()
	c := mustLoad(t, "")
	vals := valueSet{sets: sets}.values(t)
	if err := chartutil.ProcessDependenciesWithMerge(c, vals); err != nil {
		t.Fatal(err)
	}
	opts := chartutil.ReleaseOptions{Name: releaseName, Namespace: namespace, IsInstall: !upgrade, IsUpgrade: upgrade, Revision: 1}
	if upgrade {
		opts.Revision = 2
	}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.APIVersions = append(caps.APIVersions, apis...)
	top, err := chartutil.ToRenderValues(c, vals, opts, caps)
	if err != nil {
		t.Fatal(err)
	}
	files, err := engine.RenderWithClientProvider(c, top, cl)
	if err != nil {
		return nil, err
	}
	return objectsByKindName(t, files), nil
}

func mustRenderTLS(t *testing.T, cl cluster, upgrade bool, sets ...string) map[string]map[string]any {
	t.Helper()
	objs, err := renderTLS(t, cl, upgrade, nil, sets...)
	if err != nil {
		t.Fatalf("--set %s: %v", strings.Join(sets, ","), err)
	}
	return objs
}

// secretData decodes the data of the Secret key in objs.
func secretData(t *testing.T, objs map[string]map[string]any, key string) map[string][]byte {
	t.Helper()
	s, ok := objs[key]
	if !ok {
		t.Fatalf("no %s rendered", key)
	}
	data, _, _ := unstructured.NestedStringMap(s, "data")
	out := map[string][]byte{}
	for k, v := range data {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			t.Fatalf("%s: %s is not base64: %v", key, k, err)
		}
		out[k] = b
	}
	return out
}

// podSpec returns the pod template's spec and first container of the workload key.
func podSpec(t *testing.T, objs map[string]map[string]any, key string) (spec, ctr map[string]any) {
	t.Helper()
	o, ok := objs[key]
	if !ok {
		t.Fatalf("no %s rendered", key)
	}
	spec, _, _ = unstructured.NestedMap(o, "spec", "template", "spec")
	return spec, spec["containers"].([]any)[0].(map[string]any)
}

// envOf returns the container's plain environment (name -> value).
func envOf(ctr map[string]any) map[string]string {
	env := map[string]string{}
	for _, e := range ctr["env"].([]any) {
		m := e.(map[string]any)
		if v, ok := m["value"].(string); ok {
			env[m["name"].(string)] = v
		}
	}
	return env
}

// portsOf returns the container's ports by name.
func portsOf(ctr map[string]any) map[string]int64 {
	ports := map[string]int64{}
	for _, p := range ctr["ports"].([]any) {
		m := p.(map[string]any)
		ports[m["name"].(string)] = toInt64(m["containerPort"])
	}
	return ports
}

func toInt64(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case float64:
		return int64(n)
	case int:
		return int64(n)
	}
	return -1
}

// tlsWiring checks that the workload key mounts secret's three keys read-only under
// /etc/insight/tls, names the files in the grid's TLS variables, and probes its HTTP
// port over HTTPS; or, with secret "", that it has none of it and probes over HTTP.
func tlsWiring(t *testing.T, objs map[string]map[string]any, key, secret string) {
	t.Helper()
	spec, ctr := podSpec(t, objs, key)
	var vol map[string]any
	for _, v := range spec["volumes"].([]any) {
		if v.(map[string]any)["name"] == "tls" {
			vol = v.(map[string]any)
		}
	}
	mounted := false
	for _, m := range ctr["volumeMounts"].([]any) {
		mm := m.(map[string]any)
		if mm["name"] == "tls" {
			mounted = mm["mountPath"] == tlsMountDir && mm["readOnly"] == true && mm["subPath"] == nil
		}
	}
	env := envOf(ctr)
	files := map[string]string{"INSIGHT_TLS_CERT_FILE": "tls.crt", "INSIGHT_TLS_KEY_FILE": "tls.key", "INSIGHT_TLS_CA_CERT_FILE": "ca.crt"}
	for _, probe := range []string{"startupProbe", "livenessProbe", "readinessProbe"} {
		scheme, _, _ := unstructured.NestedString(ctr, probe, "httpGet", "scheme")
		want := "HTTPS"
		if secret == "" {
			want = "HTTP"
		}
		if scheme != want {
			t.Errorf("%s: %s scheme %q, want %q", key, probe, scheme, want)
		}
	}
	if secret == "" {
		if vol != nil || mounted || env["INSIGHT_TLS_CERT_FILE"] != "" || env["INSIGHT_REPL_PORT"] != "" {
			t.Fatalf("%s: TLS wired (volume %v, mounted %v, env %v) with TLS off", key, vol, mounted, env)
		}
		return
	}
	name, _, _ := unstructured.NestedString(vol, "secret", "secretName")
	if name != secret || !mounted {
		t.Fatalf("%s: tls volume %v mounted %v, want Secret %s at %s read-only", key, vol, mounted, secret, tlsMountDir)
	}
	mode, _, _ := unstructured.NestedFieldNoCopy(vol, "secret", "defaultMode")
	if toInt64(mode) != 0o440 {
		t.Errorf("%s: tls volume mode %v, want 0440 (readable by the pod's fsGroup only)", key, mode)
	}
	items, _, _ := unstructured.NestedSlice(vol, "secret", "items")
	paths := map[string]string{}
	for _, it := range items {
		m := it.(map[string]any)
		paths[m["path"].(string)] = m["key"].(string)
	}
	for envName, file := range files {
		if env[envName] != tlsMountDir+"/"+file || paths[file] != file {
			t.Errorf("%s: %s=%q with the volume's files %v, want %s/%s from the Secret's key %s", key, envName, env[envName], paths, tlsMountDir, file, file)
		}
	}
	if sc, _, _ := unstructured.NestedFieldNoCopy(spec, "securityContext", "fsGroup"); toInt64(sc) != 65532 {
		t.Errorf("%s: fsGroup %v, want 65532 (the grid's group reads the 0440 files)", key, sc)
	}
}

// parseCert reads one PEM certificate.
func parseCert(t *testing.T, what string, b []byte) *x509.Certificate {
	t.Helper()
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatalf("%s is not a PEM certificate: %q", what, b)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return c
}

func TestTLSCertificateIsMadeOnInstallForTheRelease(t *testing.T) {
	objs := mustRenderTLS(t, tlsCluster(), false, "pu.partitions=2,manager.ha=true,manager.persistence.enabled=true")
	if typ := objs["Secret/"+tlsSecret]["type"]; typ != "kubernetes.io/tls" {
		t.Errorf("Secret %s type %v, want kubernetes.io/tls", tlsSecret, typ)
	}
	data := secretData(t, objs, "Secret/"+tlsSecret)
	if _, err := tls.X509KeyPair(data["tls.crt"], data["tls.key"]); err != nil {
		t.Fatalf("tls.crt and tls.key are not a pair: %v", err)
	}
	ca := parseCert(t, "ca.crt", data["ca.crt"])
	cert := parseCert(t, "tls.crt", data["tls.crt"])
	if !ca.IsCA {
		t.Fatal("ca.crt is not a CA certificate")
	}
	if d := cert.NotAfter.Sub(cert.NotBefore); d < 3649*24*time.Hour {
		t.Errorf("certificate valid for %s, want global.tls.validityDays=3650 days", d)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	names := []string{
		releaseName + "-insight-manager-0." + releaseName + "-insight-manager-headless." + namespace + ".svc.cluster.local",
		releaseName + "-insight-manager-2." + releaseName + "-insight-manager-headless." + namespace + ".svc",
		releaseName + "-insight-manager." + namespace + ".svc",
		releaseName + "-insight-manager",
		releaseName + "-insight-pu." + namespace + ".svc.cluster.local",
		releaseName + "-insight-pu",
		"localhost", "127.0.0.1",
	}
	for _, name := range names {
		// Both uses: every process serves and dials with this one certificate.
		for _, use := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, KeyUsages: []x509.ExtKeyUsage{use}}); err != nil {
				t.Errorf("certificate for %s (usage %v): %v", name, use, err)
			}
		}
	}
	for _, name := range []string{"other.insight.svc", releaseName + "-insight-manager.elsewhere.svc", "x.y." + releaseName + "-insight-manager-headless." + namespace + ".svc"} {
		if err := cert.VerifyHostname(name); err == nil {
			t.Errorf("certificate also valid for %s", name)
		}
	}
	again := secretData(t, mustRenderTLS(t, tlsCluster(), false, "pu.partitions=2"), "Secret/"+tlsSecret)
	if string(again["ca.crt"]) == string(data["ca.crt"]) || string(again["tls.key"]) == string(data["tls.key"]) {
		t.Error("two installs made the same CA or key")
	}
	for _, key := range []string{managerSts, "StatefulSet/" + releaseName + "-insight-pu-0", "StatefulSet/" + releaseName + "-insight-pu-1"} {
		tlsWiring(t, objs, key, tlsSecret)
	}
}

// installedTLS is the TLS Secret and the manager StatefulSet an earlier install made.
func installedTLS(data map[string]string) []runtime.Object {
	s := &unstructured.Unstructured{}
	s.SetAPIVersion("v1")
	s.SetKind("Secret")
	s.SetNamespace(namespace)
	s.SetName(tlsSecret)
	enc := map[string]any{}
	for k, v := range data {
		enc[k] = base64.StdEncoding.EncodeToString([]byte(v))
	}
	_ = unstructured.SetNestedField(s.Object, enc, "data")
	sts := mountsTLS(statefulSet(namespace, releaseName+"-insight-manager", map[string]string{"app.kubernetes.io/name": "insight-manager"}, nil, 1))
	return []runtime.Object{s, sts}
}

func TestTLSCertificateIsKeptAcrossUpgrades(t *testing.T) {
	kept := map[string]string{"tls.crt": "installed certificate", "tls.key": "installed key", "ca.crt": "installed CA"}
	got := secretData(t, mustRenderTLS(t, tlsCluster(installedTLS(kept)...), true, "pu.partitions=3"), "Secret/"+tlsSecret)
	for k, v := range kept {
		if string(got[k]) != v {
			t.Errorf("upgrade rendered %s %q, want the installed %q", k, got[k], v)
		}
	}
}

func TestTLSFromAnExistingSecret(t *testing.T) {
	objs := mustRenderTLS(t, tlsCluster(), false, "pu.partitions=1,global.tls.existingSecret=gitops-tls")
	for key := range objs {
		if key == "Secret/"+tlsSecret || strings.HasPrefix(key, "Certificate/") {
			t.Errorf("the chart rendered %s beside global.tls.existingSecret", key)
		}
	}
	tlsWiring(t, objs, managerSts, "gitops-tls")
	tlsWiring(t, objs, "StatefulSet/"+releaseName+"-insight-pu-0", "gitops-tls")
}

func TestTLSFromCertManager(t *testing.T) {
	set := "pu.partitions=1,global.tls.certManager.issuerRef.name=grid-ca,global.tls.certManager.issuerRef.kind=ClusterIssuer"
	objs, err := renderTLS(t, tlsCluster(), false, []string{"cert-manager.io/v1"}, set)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := objs["Secret/"+tlsSecret]; ok {
		t.Error("the chart made its own TLS Secret beside cert-manager's")
	}
	c, ok := objs["Certificate/"+tlsSecret]
	if !ok {
		t.Fatalf("no Certificate %s rendered", tlsSecret)
	}
	if c["apiVersion"] != "cert-manager.io/v1" {
		t.Errorf("Certificate apiVersion %v", c["apiVersion"])
	}
	secretName, _, _ := unstructured.NestedString(c, "spec", "secretName")
	issuer, _, _ := unstructured.NestedStringMap(c, "spec", "issuerRef")
	usages, _, _ := unstructured.NestedStringSlice(c, "spec", "usages")
	dns, _, _ := unstructured.NestedStringSlice(c, "spec", "dnsNames")
	if secretName != tlsSecret {
		t.Errorf("Certificate writes Secret %q, want %s", secretName, tlsSecret)
	}
	if fmt.Sprint(issuer) != fmt.Sprint(map[string]string{"name": "grid-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}) {
		t.Errorf("issuerRef %v", issuer)
	}
	if !slices.Contains(usages, "server auth") || !slices.Contains(usages, "client auth") {
		t.Errorf("usages %v, want server auth and client auth", usages)
	}
	if !slices.Contains(dns, "*."+releaseName+"-insight-manager-headless."+namespace+".svc.cluster.local") || !slices.Contains(dns, releaseName+"-insight-pu."+namespace+".svc") {
		t.Errorf("dnsNames %v lack the managers' pods or the PUs' Service", dns)
	}
	tlsWiring(t, objs, managerSts, tlsSecret)
	tlsWiring(t, objs, "StatefulSet/"+releaseName+"-insight-pu-0", tlsSecret)

	_, err = renderTLS(t, tlsCluster(), false, nil, set)
	if err == nil || !strings.Contains(err.Error(), "does not serve cert-manager.io/v1") || !strings.Contains(err.Error(), "install cert-manager first") {
		t.Fatalf("cert-manager source without its CRDs: err %v, want a refusal saying what to do", err)
	}
}

func TestTLSManagersAndPUsAgree(t *testing.T) {
	objs := mustRenderTLS(t, tlsCluster(), false, "pu.partitions=2,manager.ha=true,manager.persistence.enabled=true")
	cm, _, _ := unstructured.NestedStringMap(objs["ConfigMap/"+releaseName+"-insight-manager"], "data")
	for _, member := range strings.Split(cm["initialCluster"], ",") {
		if !strings.Contains(member, "=https://") {
			t.Errorf("initialCluster member %q: want an https peer URL with TLS", member)
		}
	}
	if strings.Count(cm["initialCluster"], "https://") != 3 {
		t.Errorf("initialCluster %q: want 3 https members", cm["initialCluster"])
	}
	for p := range 2 {
		key := fmt.Sprintf("StatefulSet/%s-insight-pu-%d", releaseName, p)
		_, ctr := podSpec(t, objs, key)
		env, ports := envOf(ctr), portsOf(ctr)
		if env["INSIGHT_REPL_PORT"] != "6380" || ports["repl"] != 6380 {
			t.Errorf("%s: INSIGHT_REPL_PORT %q, port repl %d; want 6380 for both", key, env["INSIGHT_REPL_PORT"], ports["repl"])
		}
		if env["INSIGHT_PORT"] != "6379" || ports["resp"] != 6379 {
			t.Errorf("%s: plain RESP %q / %d, want 6379 kept by default", key, env["INSIGHT_PORT"], ports["resp"])
		}
		if _, ok := ports["resp-tls"]; ok || env["INSIGHT_TLS_PORT"] != "" {
			t.Errorf("%s: RESP over TLS without pu.tls.port", key)
		}
		svc := objs[fmt.Sprintf("Service/%s-insight-pu-%d-headless", releaseName, p)]
		if !servicePort(svc, "repl", 6380, "repl") {
			t.Errorf("headless Service of partition %d lacks the repl port 6380", p)
		}
	}
	for _, name := range []string{releaseName + "-insight-manager", releaseName + "-insight-manager-headless"} {
		if proto := portProtocol(objs["Service/"+name], "http"); proto != "https" {
			t.Errorf("Service %s port http: appProtocol %q, want https (insightctl's proxy picks its scheme from it)", name, proto)
		}
	}
}

// servicePort tells whether svc has the port name on port, to the container port target.
func servicePort(svc map[string]any, name string, port int64, target string) bool {
	ports, _, _ := unstructured.NestedSlice(svc, "spec", "ports")
	for _, p := range ports {
		m := p.(map[string]any)
		if m["name"] == name && toInt64(m["port"]) == port && m["targetPort"] == target {
			return true
		}
	}
	return false
}

// portProtocol is the appProtocol of svc's port name.
func portProtocol(svc map[string]any, name string) string {
	ports, _, _ := unstructured.NestedSlice(svc, "spec", "ports")
	for _, p := range ports {
		if m := p.(map[string]any); m["name"] == name {
			s, _ := m["appProtocol"].(string)
			return s
		}
	}
	return ""
}

func TestTLSDisabled(t *testing.T) {
	objs := mustRenderTLS(t, tlsCluster(), false, "pu.partitions=1,global.tls.enabled=false")
	if _, ok := objs["Secret/"+tlsSecret]; ok {
		t.Error("global.tls.enabled=false still made the TLS Secret")
	}
	tlsWiring(t, objs, managerSts, "")
	tlsWiring(t, objs, "StatefulSet/"+releaseName+"-insight-pu-0", "")
	cm, _, _ := unstructured.NestedStringMap(objs["ConfigMap/"+releaseName+"-insight-manager"], "data")
	if !strings.Contains(cm["initialCluster"], "=http://") {
		t.Errorf("initialCluster %q: want http without TLS", cm["initialCluster"])
	}
	if proto := portProtocol(objs["Service/"+releaseName+"-insight-manager"], "http"); proto != "http" {
		t.Errorf("manager Service appProtocol %q, want http", proto)
	}
}

func TestPURESPOverTLS(t *testing.T) {
	objs := mustRenderTLS(t, tlsCluster(), false, "pu.partitions=1,pu.tls.port=6390,pu.tls.authClients=optional")
	key := "StatefulSet/" + releaseName + "-insight-pu-0"
	_, ctr := podSpec(t, objs, key)
	env, ports := envOf(ctr), portsOf(ctr)
	if env["INSIGHT_TLS_PORT"] != "6390" || env["INSIGHT_TLS_AUTH_CLIENTS"] != "optional" || ports["resp-tls"] != 6390 {
		t.Errorf("%s: INSIGHT_TLS_PORT %q, INSIGHT_TLS_AUTH_CLIENTS %q, port resp-tls %d", key, env["INSIGHT_TLS_PORT"], env["INSIGHT_TLS_AUTH_CLIENTS"], ports["resp-tls"])
	}
	if env["INSIGHT_PORT"] != "6379" || ports["resp"] != 6379 {
		t.Errorf("%s: plain RESP off without pu.tls.plain=false", key)
	}
	if !servicePort(objs["Service/"+releaseName+"-insight-pu"], "resp-tls", 6390, "resp-tls") || !servicePort(objs["Service/"+releaseName+"-insight-pu"], "resp", 6379, "resp") {
		t.Errorf("client Service ports %v, want resp 6379 and resp-tls 6390", objs["Service/"+releaseName+"-insight-pu"]["spec"])
	}

	only := mustRenderTLS(t, tlsCluster(), false, "pu.partitions=1,pu.tls.port=6390,pu.tls.plain=false")
	_, ctr = podSpec(t, only, key)
	env, ports = envOf(ctr), portsOf(ctr)
	if _, ok := ports["resp"]; ok || env["INSIGHT_PORT"] != "0" || ports["resp-tls"] != 6390 {
		t.Errorf("pu.tls.plain=false: INSIGHT_PORT %q, ports %v; want 0 and resp-tls alone", env["INSIGHT_PORT"], ports)
	}
	if servicePort(only["Service/"+releaseName+"-insight-pu"], "resp", 6379, "resp") || servicePort(only["Service/"+releaseName+"-insight-pu-0-headless"], "resp", 6379, "resp") {
		t.Error("pu.tls.plain=false: a Service still exposes plain RESP")
	}
}

func TestTLSBadValuesRefused(t *testing.T) {
	for _, tc := range []struct{ name, set, want string }{
		{"plain off without a TLS port", "pu.tls.plain=false", "pu.tls.plain=false turns plain RESP off, but pu.tls.port is 0"},
		{"TLS port without TLS", "global.tls.enabled=false,pu.tls.port=6390", "need the release's certificate, but global.tls.enabled=false"},
		{"TLS port on the replication port", "pu.tls.port=6380", "pu.tls.port=6380 is taken"},
		{"plain off with the SQL endpoints", "pu.tls.port=6390,pu.tls.plain=false,sql.enabled=true", "the release's SQL endpoints or Spark (sql.enabled, spark.enabled) reach the PUs over plain RESP"},
		{"unknown client auth", "pu.tls.authClients=maybe", "/pu/tls/authClients"},
		{"unknown issuer kind", "global.tls.certManager.issuerRef.kind=Vault", "/global/tls/certManager/issuerRef/kind"},
		{"zero validity", "global.tls.validityDays=0", "/global/tls/validityDays"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, mustLoad(t, ""), valueSet{sets: []string{tc.set}}.values(t))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("--set %s: err %v, want one containing %q", tc.set, err, tc.want)
			}
		})
	}
}

// An upgrade keeps TLS as the release was installed: switching it is refused with what
// to set instead.
func TestTLSChangeRefusedOnUpgrade(t *testing.T) {
	plain := tlsCluster(statefulSet(namespace, releaseName+"-insight-manager", map[string]string{"app.kubernetes.io/name": "insight-manager"}, nil, 1))
	withTLS := tlsCluster(installedTLS(map[string]string{"tls.crt": "c", "tls.key": "k", "ca.crt": "a"})...)
	for _, tc := range []struct {
		name    string
		cluster cluster
		set     string
		refused string
	}{
		{"plain release, TLS by default", plain, "pu.partitions=1", "global.tls.enabled=true but release demo runs without TLS (demo-insight-manager): switching TLS by an upgrade is not rolling-safe"},
		{"plain release kept plain", plain, "pu.partitions=1,global.tls.enabled=false", ""},
		{"TLS release turned off", withTLS, "pu.partitions=1,global.tls.enabled=false", "Keep global.tls.enabled=true"},
		{"TLS release kept", withTLS, "pu.partitions=1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := renderTLS(t, tc.cluster, true, nil, tc.set)
			if tc.refused == "" {
				if err != nil {
					t.Fatalf("--set %s refused: %v", tc.set, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.refused) || !strings.Contains(err.Error(), "docs/operations.md") {
				t.Fatalf("--set %s: err %v, want a refusal containing %q and the runbook", tc.set, err, tc.refused)
			}
		})
	}
}
