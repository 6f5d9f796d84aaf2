package itest

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/internal/testutil"
	"github.com/insightgrid/insight/grid/internal/tlsconf"
)

// clientTLS is what a RESP client outside the grid configures: the CA file local
// printed as its roots, and the certificate and key when given.
func clientTLS(t *testing.T, caFile, certFile, keyFile string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", caFile)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

// respOverTLS sends one command (inline) on a new TLS connection to addr and returns the
// first reply line, or the error of the handshake, the write or the read.
func respOverTLS(addr string, cfg *tls.Config, cmd string) (string, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// tlsPort and replPort are instance k's RESP over TLS and internal links' ports in the
// shared grid's layout.
func tlsPort(k int) int  { return grid.base + 510 + k }
func replPort(k int) int { return grid.base + 1510 + k }

func TestTLSClusterClientIsRedirectedToTLSPorts(t *testing.T) {
	ctx := ctxT(t)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{grid.seedTLS}, TLSConfig: clientTLS(t, grid.caFile, "", "")})
	t.Cleanup(func() { c.Close() })
	for i := range 200 {
		k := fmt.Sprintf("tls:spread:%d", i)
		if err := c.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatalf("SET %s over TLS: %v", k, err)
		}
	}
	for i := range 200 {
		k := fmt.Sprintf("tls:spread:%d", i)
		if got, err := c.Get(ctx, k).Int(); err != nil || got != i {
			t.Fatalf("GET %s over TLS: %d, %v", k, got, err)
		}
	}
	tlsPorts := map[int]bool{tlsPort(0): true, tlsPort(1): true, tlsPort(2): true}
	one := redis.NewClient(&redis.Options{Addr: grid.seedTLS, TLSConfig: clientTLS(t, grid.caFile, "", "")})
	t.Cleanup(func() { one.Close() })
	slotsTLS, err := one.Do(ctx, "CLUSTER", "SLOTS").Slice()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range slotsTLS {
		rng := r.([]any)
		for _, n := range rng[2:] {
			port := int(n.([]any)[1].(int64))
			if !tlsPorts[port] {
				t.Errorf("CLUSTER SLOTS over TLS names port %d for %v-%v: want a TLS port (%v)", port, rng[0], rng[1], tlsPorts)
			}
		}
	}
	// A plain client is sent to plain ports.
	plain := redis.NewClient(&redis.Options{Addr: grid.seed})
	t.Cleanup(func() { plain.Close() })
	nodes, err := plain.ClusterNodes(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	for port := range tlsPorts {
		if strings.Contains(nodes, fmt.Sprintf(":%d@", port)) {
			t.Errorf("CLUSTER NODES on the plain port names TLS port %d:\n%s", port, nodes)
		}
	}
}

func TestRedisCLIOverTLS(t *testing.T) {
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("redis-cli not installed (Debian: apt-get install -y redis-tools)")
	}
	host, port, _ := net.SplitHostPort(grid.seedTLS)
	ctx := ctxT(t)
	// Keys of the three partitions: redis-cli -c follows MOVED to the TLS ports.
	run := func(args ...string) string {
		out, err := exec.CommandContext(ctx, cli, append([]string{"--tls", "--cacert", grid.caFile, "-c", "-h", host, "-p", port}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for _, k := range []string{"tls:cli:a", "tls:cli:b", "tls:cli:c", "tls:cli:d"} {
		if got := run("SET", k, "v-"+k); got != "OK" {
			t.Fatalf("redis-cli --tls SET %s: %q", k, got)
		}
		if got := run("GET", k); got != "v-"+k {
			t.Fatalf("redis-cli --tls GET %s: %q", k, got)
		}
	}
	// Without --tls the TLS port does not speak RESP.
	out, _ := exec.CommandContext(ctx, cli, "-h", host, "-p", port, "PING").CombinedOutput()
	if strings.Contains(string(out), "PONG") {
		t.Fatalf("a plain redis-cli got PONG from the TLS port: %s", out)
	}
}

func TestTLSInternalPortRefusesClientsWithoutACertificate(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", replPort(0))
	if _, err := respOverTLS(addr, clientTLS(t, grid.caFile, "", ""), "PING"); err == nil {
		t.Fatal("the replication port answered a client without a certificate")
	}
	other, err := tlsconf.Generate(t.TempDir(), nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := respOverTLS(addr, clientTLS(t, grid.caFile, other.Cert, other.Key), "PING"); err == nil {
		t.Fatal("the replication port answered a client whose certificate another CA signed")
	}
	if got, err := respOverTLS(addr, clientTLS(t, grid.caFile, grid.certFile, grid.keyFile), "PING"); err != nil || got != "+PONG" {
		t.Fatalf("PING on the replication port with the grid's certificate: %q, %v", got, err)
	}
	// The internal commands are refused on the client ports.
	ctx := ctxT(t)
	plain := redis.NewClient(&redis.Options{Addr: grid.seed})
	t.Cleanup(func() { plain.Close() })
	for _, cmd := range [][]any{{"REPLSYNC", "p0-i1", "run", "1", "0"}, {"SLOTIMPORT", "1", "0", "x"}, {"PUBLISHLOCAL", "ch", "msg"}} {
		err := plain.Do(ctx, cmd...).Err()
		if err == nil || !strings.Contains(err.Error(), "served on the replication port only") {
			t.Errorf("%v on the plain port: %v, want it refused", cmd[0], err)
		}
	}
}

// TestTLSFailoverAfterARotationKeepsEveryAcknowledgedWrite renews the grid's certificate
// while it runs (local's files rewritten under the same CA, as cert-manager renews a
// Secret), then kills a primary: its backup, which started with the old certificate,
// takes over and serves the new one, and the restarted instance registers in etcd and
// syncs from it with the new one. Every write acknowledged over TLS is there.
func TestTLSFailoverAfterARotationKeepsEveryAcknowledgedWrite(t *testing.T) {
	dir := t.TempDir()
	base, _, _, token := runLocal(t, 1, 2, "--ha", "--lease-ttl", "2s", "--repl-timeout", "1s", "--restart-delay", "300ms", "--data-dir", dir)
	g := &haLocal{base: base, api: fmt.Sprintf("http://127.0.0.1:%d", base+2), token: token}
	g.waitHealthy(t, 0, 30*time.Second)
	files := tlsconf.Files{CA: filepath.Join(dir, "tls", tlsconf.CAName), Cert: filepath.Join(dir, "tls", tlsconf.CertName), Key: filepath.Join(dir, "tls", tlsconf.KeyName)}
	seedTLS := fmt.Sprintf("127.0.0.1:%d", base+510)
	serial := func() *big.Int {
		t.Helper()
		c, err := tls.Dial("tcp", seedTLS, clientTLS(t, files.CA, "", ""))
		if err != nil {
			t.Fatalf("TLS to %s: %v", seedTLS, err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber
	}
	before := serial()
	// The writers' client reads the CA file again when it changes, as the grid's own
	// processes do.
	caSrc, err := tlsconf.Load(tlsconf.Files{CA: files.CA})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{seedTLS}, TLSConfig: caSrc.ClientConfig(), MaxRedirects: 16})
	defer c.Close()
	var (
		mu    sync.Mutex
		acked []string
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			k := fmt.Sprintf("tls:ha:%d", i)
			if c.Set(ctx, k, k, 0).Err() == nil {
				mu.Lock()
				acked = append(acked, k)
				mu.Unlock()
			}
		}
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	testutil.Eventually(t, 30*time.Second, "100 writes acknowledged over TLS", func() bool { return count() >= 100 })

	ca, err := tlsconf.LoadCA(files.CA, filepath.Join(dir, "tls", tlsconf.CAKeyName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Issue(filepath.Join(dir, "tls"), nil, time.Hour); err != nil {
		t.Fatal(err)
	}
	if after := serial(); after.Cmp(before) == 0 {
		t.Fatal("after the rotation the TLS port still presents the certificate it started with")
	}
	old := g.killPrimary(t, 0)
	testutil.Eventually(t, 60*time.Second, "the old backup serving and the restarted instance back in sync", func() bool {
		pt, err := g.partition(0)
		return err == nil && pt.Primary == old.Backup && pt.Backup == old.Primary && pt.InSync
	})
	n := count()
	testutil.Eventually(t, 30*time.Second, "writes acknowledged after the failover", func() bool { return count() >= n+100 })
	close(stop)
	<-done

	mu.Lock()
	keys := append([]string(nil), acked...)
	mu.Unlock()
	check := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{seedTLS}, TLSConfig: clientTLS(t, files.CA, "", "")})
	defer check.Close()
	lost := 0
	for _, k := range keys {
		v, err := check.Get(ctx, k).Result()
		if errors.Is(err, redis.Nil) || err == nil && v != k {
			lost++
		} else if err != nil {
			t.Fatalf("GET %s: %v", k, err)
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged writes lost", lost, len(keys))
	}
	t.Logf("%d acknowledged writes over TLS, all read back after a rotation and a failover", len(keys))
}

func TestCheckWritesThroughTheTLSPorts(t *testing.T) {
	ctx := ctxT(t)
	out, err := exec.CommandContext(ctx, grid.bin, "check", "--addrs", grid.seedTLS, "--tls-ca-cert-file", grid.caFile,
		"--duration", "2s", "--rate", "100", "--prefix", "tls:check:").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "none lost") {
		t.Fatalf("insight-grid check over TLS: %v\n%s", err, out)
	}
}
