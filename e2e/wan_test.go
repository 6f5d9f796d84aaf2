package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
)

// wanGatewayService is the Service of a release's WAN gateway (charts/insight-wan-gateway).
const wanGatewayService = "demo-insight-wan-gateway"

// wanSite is one release of the suite installed as a WAN site.
type wanSite struct {
	name, ns   string
	partitions int
}

// installWANSite installs release demo in s.ns as site s.name sending to site to, whose
// CA and operator token it reads from the Secrets <to>-ca and <to>-token of its own
// namespace (optional: they may be copied there after the install).
func installWANSite(t *testing.T, s, to wanSite) {
	t.Helper()
	target := fmt.Sprintf("wanGateway.targets[0].name=%s,wanGateway.targets[0].address=%s.%s.svc:7443,"+
		"wanGateway.targets[0].tls.caSecret=%s-ca,wanGateway.targets[0].auth.tokenSecret=%s-token", to.name, wanGatewayService, to.ns, to.name, to.name)
	insightctlOK(t, "install", "demo", "-n", s.ns, "--profile", "dev", "--partitions", fmt.Sprint(s.partitions), "--enable", "wanGateway",
		"--set", "wanGateway.site="+s.name+","+target, "--timeout", "4m")
}

// copyWANSecrets copies site from's CA (ca.crt of its TLS Secret) and operator token
// into the namespace of site to, as <from>-ca and <from>-token: what an operator does so
// that to's gateway trusts from's gateway and is let in by it.
func copyWANSecrets(t *testing.T, from, to wanSite) {
	t.Helper()
	ctx := context.Background()
	secrets := cluster.Client.CoreV1().Secrets
	tlsSecret, err := secrets(from.ns).Get(ctx, "demo-insight-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("site %s's TLS Secret: %v", from.name, err)
	}
	token, err := secrets(from.ns).Get(ctx, "demo-insight-operator-token", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("site %s's operator token: %v", from.name, err)
	}
	for name, data := range map[string]map[string][]byte{
		from.name + "-ca":    {"ca.crt": tlsSecret.Data["ca.crt"]},
		from.name + "-token": {"token": token.Data["token"]},
	} {
		if _, err := secrets(to.ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: data}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("copying Secret %s to %s: %v", name, to.ns, err)
		}
	}
}

// gatewayStatus reads GET /v1/wan/status of site s's gateway through its Service, over
// HTTPS checked against the release's CA and the Service's name.
func gatewayStatus(ctx context.Context, t *testing.T, s wanSite) (site string, targets []string, err error) {
	t.Helper()
	pool, _, _, _ := releaseTLS(t, s.ns)
	addr := serviceEndpoint(t, s.ns, wanGatewayService, "https-wan")
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: wanGatewayService + "." + s.ns + ".svc"}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/v1/wan/status", nil)
	if err != nil {
		return "", nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	var st struct {
		Site    string `json:"site"`
		Targets []struct {
			Site string `json:"site"`
		} `json:"targets"`
	}
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("GET /v1/wan/status: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return "", nil, err
	}
	for _, tg := range st.Targets {
		targets = append(targets, tg.Site)
	}
	return st.Site, targets, nil
}

// TestWANReplicationBetweenTwoReleases installs two releases of the suite in two
// namespaces as the WAN sites east (2 partitions) and west (1), each gateway pointed at
// the other's Service by its DNS name and trusting the other's CA and token (Secrets the
// test copies across, as an operator would). A key written at east is read at west and
// one written at west is read at east, within a minute each; a deletion travels too. The
// gateways' status answers over HTTPS, checked against the release's certificate.
func TestWANReplicationBetweenTwoReleases(t *testing.T) {
	east := wanSite{name: "east", ns: cluster.Namespace(t, "wan-east"), partitions: 2}
	west := wanSite{name: "west", ns: cluster.Namespace(t, "wan-west"), partitions: 1}

	// east first: west's Secrets do not exist yet, and the gateway starts without them.
	installWANSite(t, east, west)
	copyWANSecrets(t, east, west)
	installWANSite(t, west, east)
	copyWANSecrets(t, west, east)
	// The local cluster's node agent writes a pod's volumes once, at its start (a kubelet
	// refreshes them within a minute): restart east's gateway so that it reads west's files.
	if err := cluster.Client.CoreV1().Pods(east.ns).DeleteCollection(context.Background(), metav1.DeleteOptions{},
		metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=demo,app.kubernetes.io/component=wan-gateway"}); err != nil {
		t.Fatalf("restarting east's gateway: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, s := range []wanSite{east, west} {
		var site string
		var targets []string
		cluster.WaitFor(t, 2*time.Minute, "site "+s.name+"'s gateway status", func(ctx context.Context) (bool, error) {
			var err error
			site, targets, err = gatewayStatus(ctx, t, s)
			return err == nil, nil
		})
		if want := map[string]string{"east": "west", "west": "east"}[s.name]; site != s.name || len(targets) != 1 || targets[0] != want {
			t.Errorf("site %s's gateway reports site %q with targets %v, want %s with [%s]", s.name, site, targets, s.name, want)
		}
	}

	eastGrid, westGrid := gridClient(t, east.ns), gridClient(t, west.ns)
	replicated := func(from, to *redis.ClusterClient, fromName, toName string) {
		t.Helper()
		key, value := "wan:"+fromName+":"+rand.String(8), rand.String(16)
		if err := from.Set(ctx, key, value, 0).Err(); err != nil {
			t.Fatalf("SET %s at %s: %v", key, fromName, err)
		}
		start := time.Now()
		cluster.WaitFor(t, time.Minute, key+" written at "+fromName+" read at "+toName, func(ctx context.Context) (bool, error) {
			got, err := to.Get(ctx, key).Result()
			return err == nil && got == value, nil
		})
		t.Logf("%s written at %s read at %s after %s", key, fromName, toName, time.Since(start).Round(time.Millisecond))
		if err := from.Del(ctx, key).Err(); err != nil {
			t.Fatalf("DEL %s at %s: %v", key, fromName, err)
		}
		cluster.WaitFor(t, time.Minute, key+" deleted at "+fromName+" gone at "+toName, func(ctx context.Context) (bool, error) {
			n, err := to.Exists(ctx, key).Result()
			return err == nil && n == 0, nil
		})
	}
	replicated(eastGrid, westGrid, "east", "west")
	replicated(westGrid, eastGrid, "west", "east")

	// insightctl wan status reaches each release's gateway through a port-forward with the
	// release's CA and token: the other site is its target, nothing left to send.
	for _, s := range []wanSite{east, west} {
		want := map[string]string{"east": "west", "west": "east"}[s.name]
		var out string
		cluster.WaitFor(t, 30*time.Second, "insightctl wan status -n "+s.ns+" showing target "+want+" with nothing left to send", func(context.Context) (bool, error) {
			out = insightctlOK(t, "wan", "status", "demo", "-n", s.ns, "-o", "json").Stdout
			var st struct {
				Site    string `json:"site"`
				Targets []struct {
					Site    string `json:"site"`
					Backlog int    `json:"backlog"`
				} `json:"targets"`
			}
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				return false, fmt.Errorf("insightctl wan status -n %s -o json: %w\n%s", s.ns, err, out)
			}
			return st.Site == s.name && len(st.Targets) == 1 && st.Targets[0].Site == want && st.Targets[0].Backlog == 0, nil
		})
		table := insightctlOK(t, "wan", "status", "demo", "-n", s.ns)
		if !strings.Contains(table.Stdout, want) {
			t.Errorf("insightctl wan status -n %s does not show target %s:\n%s", s.ns, want, table.Stdout)
		}
	}
}
