package itest

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insightgrid/insight/e2e/clients"
	"github.com/insightgrid/insight/grid/internal/tlsconf"
)

// explainJDBC runs testdata/ExplainJdbc.java with MariaDB Connector/J against addr (over
// TLS verified with caFile unless it is "-") and returns the checks that passed.
func explainJDBC(t *testing.T, addr, caFile string) []string {
	t.Helper()
	repo, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := clients.Java(t, repo, "jdbc", "MariaDB Connector/J")
	cmd := exec.CommandContext(ctx(t), "java", "-cp", filepath.Join(dir, "lib", "*"), "testdata/ExplainJdbc.java", addr, password, caFile)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	var passed []string
	for _, line := range strings.Split(string(out), "\n") {
		if name, ok := strings.CutPrefix(line, "PASS "); ok {
			passed = append(passed, name)
		}
	}
	if err != nil || strings.Contains(string(out), "FAIL ") {
		t.Errorf("ExplainJdbc: %v\n%s", err, out)
	}
	return passed
}

// TestExplainJDBC checks EXPLAIN and EXPLAIN PLAN of a one-row lookup through MariaDB
// Connector/J (Zeppelin's driver): rows and filtered read as NULL numbers, the plan's
// lines; in plain and over TLS with the endpoint's CA (secure transport required).
func TestExplainJDBC(t *testing.T) {
	want := "select,explain,explain-plan"
	if got := explainJDBC(t, env.sqlAddr, "-"); strings.Join(got, ",") != want {
		t.Errorf("plain: passed %v, want %s", got, want)
	}
	files, err := tlsconf.Generate(t.TempDir(), []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := sqlEndpoint(t, "--tls-cert-file", files.Cert, "--tls-key-file", files.Key, "--tls-ca-cert-file", files.CA,
		"--tls-grid=false", "--require-secure-transport")
	if got := explainJDBC(t, addr, files.CA); strings.Join(got, ",") != want {
		t.Errorf("over TLS: passed %v, want %s", got, want)
	}
}
