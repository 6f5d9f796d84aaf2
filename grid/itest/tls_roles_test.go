package itest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/internal/ports"
	"github.com/insightgrid/insight/grid/internal/testutil"
	"github.com/insightgrid/insight/grid/internal/tlsconf"
)

// TestTLSManagerAndDataRolesServeEveryPortOverTLS runs a manager and an HA partition as
// the chart would with TLS given: etcd's client and peer ports on mutual TLS, the
// manager's API and the data instances' HTTP ports over TLS (the manager calling the
// instances with its certificate), the internal links
// on --repl-port, RESP on --tls-port only for instance 1 (--port 0), the metrics ports
// in plain HTTP for a scraper without a certificate. A planned failover through the admin
// command over https moves the partition to instance 1, which a TLS cluster client then
// writes to.
func TestTLSManagerAndDataRolesServeEveryPortOverTLS(t *testing.T) {
	base, err := ports.FreeBase("127.0.0.1", []int{0, 1, 2, 3, 10, 11, 20, 21, 30, 31, 40, 41, 50, 51}, 60000)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, err := tlsconf.Generate(filepath.Join(dir, "tls"), nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tlsArgs := []string{"--tls-cert-file", files.Cert, "--tls-key-file", files.Key, "--tls-ca-cert-file", files.CA}
	startProc(t, filepath.Join(dir, "m-0.log"), append([]string{"manager", "--name", "m-0", "--data-dir", filepath.Join(dir, "m-0"),
		"--bind", "127.0.0.1", "--advertise-host", "127.0.0.1", "--client-port", fmt.Sprint(base), "--peer-port", fmt.Sprint(base + 1),
		"--http-port", fmt.Sprint(base + 2), "--metrics-port", fmt.Sprint(base + 3), "--partitions", "1", "--ha", "--auto-failback=false",
		"--etcd-heartbeat", "20ms", "--etcd-election", "400ms"}, tlsArgs...))
	for i := range 2 {
		port := fmt.Sprint(base + 10 + i)
		if i == 1 {
			port = "0" // RESP over TLS only
		}
		startProc(t, filepath.Join(dir, fmt.Sprintf("p0-i%d.log", i)), append([]string{"data", "--partition", "0", "--instance", fmt.Sprint(i),
			"--etcd-endpoints", fmt.Sprintf("127.0.0.1:%d", base), "--bind", "127.0.0.1", "--advertise-host", "127.0.0.1",
			"--port", port, "--tls-port", fmt.Sprint(base + 20 + i), "--repl-port", fmt.Sprint(base + 30 + i),
			"--http-port", fmt.Sprint(base + 40 + i), "--metrics-port", fmt.Sprint(base + 50 + i),
			"--tls-auth-clients", "no", "--lease-ttl", "2s"}, tlsArgs...))
	}
	caOnly, err := tlsconf.Load(tlsconf.Files{CA: files.CA})
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: caOnly.ClientConfig()}}
	managerURL := fmt.Sprintf("https://127.0.0.1:%d", base+2)
	var pt api.Partition
	testutil.Eventually(t, 60*time.Second, "partition 0 healthy, read over https with the instances' figures", func() bool {
		resp, err := hc.Get(managerURL + "/v1/partitions/0")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&pt) != nil {
			return false
		}
		reached := 0
		for _, in := range pt.Instances {
			if in.Keys != nil {
				reached++ // the manager read its /v1/status over TLS
			}
		}
		return pt.Primary == "p0-i0" && pt.Backup == "p0-i1" && pt.InSync && reached == 2
	})
	// Plain HTTP is not served on the TLS ports.
	for _, u := range []string{fmt.Sprintf("http://127.0.0.1:%d/readyz", base+2), fmt.Sprintf("http://127.0.0.1:%d/readyz", base+40)} {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Errorf("GET %s in plain HTTP: 200", u)
			}
		}
	}
	// The metrics ports speak plain HTTP whatever the TLS; the TLS admin ports no longer
	// serve metrics.
	for _, m := range []struct {
		metrics, admin int
		want           string
	}{{base + 3, base + 2, "insight_manager_is_leader"}, {base + 50, base + 40, "insight_grid_ready 1"}, {base + 51, base + 41, "insight_grid_ready 1"}} {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", m.metrics))
		if err != nil {
			t.Fatalf("GET /metrics in plain HTTP on the metrics port %d: %v", m.metrics, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), m.want) {
			t.Errorf("GET /metrics on the metrics port %d: %d, %v; want 200 with %s", m.metrics, resp.StatusCode, err, m.want)
		}
		resp, err = hc.Get(fmt.Sprintf("https://127.0.0.1:%d/metrics", m.admin))
		if err != nil {
			t.Fatalf("GET /metrics over https on the admin port %d: %v", m.admin, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET /metrics on the admin port %d: %d; want 404 (metrics moved to --metrics-port)", m.admin, resp.StatusCode)
		}
	}
	// etcd's client port: mutual TLS, as the data instances dial it.
	etcdURL := fmt.Sprintf("127.0.0.1:%d/version", base)
	if resp, err := http.Get("http://" + etcdURL); err == nil {
		resp.Body.Close()
		t.Errorf("etcd answered plain HTTP: %s", resp.Status)
	}
	if resp, err := hc.Get("https://" + etcdURL); err == nil {
		resp.Body.Close()
		t.Errorf("etcd answered a client without a certificate: %s", resp.Status)
	}
	full, err := tlsconf.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	withCert := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: full.InternalClientConfig()}}
	if resp, err := withCert.Get("https://" + etcdURL); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("etcd with the grid's certificate: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if resp, err := hc.Get(fmt.Sprintf("https://127.0.0.1:%d/readyz", base+41)); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /readyz of p0-i1 over https without a client certificate (a probe): %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, grid.bin, append([]string{"failover", "--manager", managerURL, "--partition", "0"}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := admin(); err == nil || !strings.Contains(out, "certificate") {
		t.Fatalf("failover over https without --tls-ca-cert-file: %v\n%s", err, out)
	}
	if out, err := admin("--tls-ca-cert-file", files.CA); err != nil {
		t.Fatalf("failover over https: %v\n%s", err, out)
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{fmt.Sprintf("127.0.0.1:%d", base+20)}, TLSConfig: caOnly.ClientConfig()})
	defer c.Close()
	for i := range 20 {
		k := fmt.Sprintf("tls:roles:%d", i)
		if err := c.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatalf("SET %s through the TLS ports after the failover: %v", k, err)
		}
	}
	resp, err := hc.Get(managerURL + "/v1/partitions/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&pt); err != nil || pt.Primary != "p0-i1" {
		t.Fatalf("after the failover: primary %q, %v; want p0-i1", pt.Primary, err)
	}
	for _, in := range pt.Instances {
		i := in.Instance
		if want := fmt.Sprintf("127.0.0.1:%d", base+20+i); in.TLSAddress != want {
			t.Errorf("%s: tlsAddress %q, want %s", in.ID, in.TLSAddress, want)
		}
		if want := fmt.Sprintf("127.0.0.1:%d", base+30+i); in.ReplAddress != want {
			t.Errorf("%s: replAddress %q, want %s", in.ID, in.ReplAddress, want)
		}
		if in.ID == "p0-i1" && in.Address != fmt.Sprintf("127.0.0.1:%d", base+21) {
			t.Errorf("p0-i1 without a plain port registers %s; want its TLS address", in.Address)
		}
	}
}

// TestTLSThreeManagersFormTheirEtcdClusterOverMutualTLS starts three managers with the TLS
// files (their API left plain with --tls-http=false): their etcd peers reach each other at
// https URLs with client certificates, and every member reports the others healthy
// through their https client URLs.
func TestTLSThreeManagersFormTheirEtcdClusterOverMutualTLS(t *testing.T) {
	base, err := ports.FreeBase("127.0.0.1", []int{0, 1, 2, 3, 4, 5, 6, 7, 8}, 60000)
	if err != nil {
		t.Fatal(err)
	}
	m := &managers{base: base, dir: t.TempDir()}
	files, err := tlsconf.Generate(filepath.Join(m.dir, "tls"), nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	initial := strings.ReplaceAll(m.initialCluster(3), "http://", "https://")
	for k := range 3 {
		m.procs = append(m.procs, m.start(t, k, filepath.Join(m.dir, fmt.Sprint(k)), initial, "--partitions", "1",
			"--tls-cert-file", files.Cert, "--tls-key-file", files.Key, "--tls-ca-cert-file", files.CA, "--tls-http=false"))
	}
	for k := range 3 {
		m.waitReady(t, k, 60*time.Second)
	}
	testutil.Eventually(t, 30*time.Second, "three healthy members at https URLs", func() bool {
		var cl api.Cluster
		if getInto(m.api(0)+"/v1/cluster", &cl) != nil || len(cl.Managers) != 3 {
			return false
		}
		for _, mem := range cl.Managers {
			if !mem.Healthy || !strings.HasPrefix(mem.PeerURL, "https://") || !strings.HasPrefix(mem.ClientURL, "https://") {
				return false
			}
		}
		return true
	})
	if out, err := exec.Command(grid.bin, "manager", "--name", "m-0", "--initial-cluster", m.initialCluster(3),
		"--tls-cert-file", files.Cert, "--tls-key-file", files.Key, "--tls-ca-cert-file", files.CA).CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "the peer URL must be https://host:port") {
		t.Fatalf("a manager with TLS and http:// peers: %v\n%s", err, out)
	}
}
