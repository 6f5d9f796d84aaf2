package itest

import (
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/insightgrid/insight/grid/internal/ports"
	"github.com/insightgrid/insight/grid/internal/tlsconf"
	"github.com/insightgrid/insight/grid/local"
)

// tlsDSN is a DSN of the MySQL protocol at addr over TLS verified against the CA in
// caFile (registered with go-sql-driver as name).
func tlsDSN(t *testing.T, name, caFile, addr string) string {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", caFile)
	}
	host, _, _ := net.SplitHostPort(addr)
	if err := mysql.RegisterTLSConfig(name, &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mysql.DeregisterTLSConfig(name) })
	return dsn(addr, password) + "&tls=" + name
}

// queryOne runs query on a new connection pool of dsn and scans its one value.
func queryOne(t *testing.T, dsn, query string) (string, error) {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v string
	err = db.QueryRowContext(ctx(t), query).Scan(&v)
	return v, err
}

// TestSQLRequireSecureTransport checks --require-secure-transport with the endpoint's
// own certificate: a client verifying the CA gets in over TLS, a plain client is refused
// with MySQL's error 3159, a client trusting another CA fails its handshake; and the
// mariadb client gets in with --ssl-ca and is refused with --skip-ssl.
func TestSQLRequireSecureTransport(t *testing.T) {
	files, err := tlsconf.Generate(t.TempDir(), []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := sqlEndpoint(t, "--tls-cert-file", files.Cert, "--tls-key-file", files.Key, "--tls-ca-cert-file", files.CA,
		"--tls-grid=false", "--require-secure-transport")
	mustExec(t, ctx(t), "CREATE TABLE IF NOT EXISTS tls_t (id INT PRIMARY KEY, v VARCHAR(10))", "REPLACE INTO tls_t VALUES (1, 'secure')")

	if v, err := queryOne(t, tlsDSN(t, "insight-own-ca", files.CA, addr), "SELECT v FROM tls_t WHERE id = 1"); err != nil || v != "secure" {
		t.Errorf("over TLS with the CA: %q, %v; want secure", v, err)
	}
	if _, err := queryOne(t, dsn(addr, password), "SELECT 1"); mysqlCode(err) != 3159 ||
		!strings.Contains(err.Error(), "Connections using insecure transport are prohibited while --require_secure_transport=ON") {
		t.Errorf("plain: %v, want error 3159", err)
	}
	other, err := tlsconf.Generate(t.TempDir(), []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := queryOne(t, tlsDSN(t, "insight-other-ca", other.CA, addr), "SELECT 1"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("over TLS trusting another CA: %v, want a certificate error", err)
	}

	bin, err := exec.LookPath("mariadb")
	if err != nil {
		t.Skip("the mariadb client is not installed (ci/tools.sh installs mariadb-client)")
	}
	host, port, _ := net.SplitHostPort(addr)
	out, err := exec.CommandContext(ctx(t), bin, "--batch", "--ssl-ca="+files.CA, "--ssl-verify-server-cert", "-h", host, "-P", port,
		"-u", "insight", "--password="+password, "insight", "-e", "SELECT v FROM tls_t WHERE id = 1").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "v\nsecure" {
		t.Errorf("mariadb --ssl-ca: %v\n%s", err, out)
	}
	out, err = exec.CommandContext(ctx(t), bin, "--batch", "--skip-ssl", "-h", host, "-P", port,
		"-u", "insight", "--password="+password, "insight", "-e", "SELECT 1").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "ERROR 3159") {
		t.Errorf("mariadb --skip-ssl: %v, want ERROR 3159\n%s", err, out)
	}
}

// TestSQLTLSInLocal checks `insight-grid local --sql` with its TLS on: its endpoint
// dials the grid's TLS ports (the only ones it is given) and serves MySQL over TLS with
// local's certificate, a plain MySQL client still welcome.
func TestSQLTLSInLocal(t *testing.T) {
	base, err := ports.FreeBase("127.0.0.1", local.PortOffsets(1), local.MaxBasePort)
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	stop, sqlURL, logPath, err := startLocal(env.dir, base, "grid-tls.log", "--partitions", "1", "--data-dir", data)
	t.Cleanup(stop)
	if err != nil {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("%v; log:\n%s", err, b[max(0, len(b)-6000):])
	}
	addr := strings.TrimPrefix(sqlURL, "mysql://")
	caFile := filepath.Join(data, "tls", tlsconf.CAName)
	secure := tlsDSN(t, "insight-local-ca", caFile, addr)
	db, err := sql.Open("mysql", secure)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := ctx(t)
	for _, s := range []string{"CREATE TABLE lt (id INT PRIMARY KEY, v VARCHAR(10))", "INSERT INTO lt VALUES (1, 'a'), (2, 'b')"} {
		if _, err := db.ExecContext(c, s); err != nil {
			t.Fatalf("%s over TLS: %v", s, err)
		}
	}
	var n int
	if err := db.QueryRowContext(c, "SELECT COUNT(*) FROM lt").Scan(&n); err != nil || n != 2 {
		t.Errorf("SELECT COUNT(*) over TLS: %d, %v; want 2", n, err)
	}
	if v, err := queryOne(t, dsn(addr, password), "SELECT v FROM lt WHERE id = 2"); err != nil || v != "b" {
		t.Errorf("plain client: %q, %v; want b", v, err)
	}
	if t.Failed() {
		b, _ := os.ReadFile(logPath)
		fmt.Fprintf(os.Stderr, "local log:\n%s\n", b[max(0, len(b)-6000):])
	}
}
