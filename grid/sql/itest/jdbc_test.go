package itest

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insightgrid/insight/e2e/clients"
)

// TestJDBC runs e2e/clients/jdbc/JdbcCompat.java with MariaDB Connector/J, as Zeppelin's
// JDBC interpreter connects: server-side prepared statements and batches, result-set
// types and NULLs, DatabaseMetaData, error codes. Skipped without java or the driver
// (ci/clients.sh installs it), except in CI.
func TestJDBC(t *testing.T) {
	repo, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := clients.Java(t, repo, "jdbc", "MariaDB Connector/J")
	cmd := exec.CommandContext(ctx(t), "java", "-cp", filepath.Join(dir, "lib", "*"),
		filepath.Join(repo, "e2e/clients/jdbc/JdbcCompat.java"), env.sqlAddr, password)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	var passed []string
	for _, line := range strings.Split(string(out), "\n") {
		if name, ok := strings.CutPrefix(line, "PASS "); ok {
			passed = append(passed, name)
		}
	}
	want := []string{"ddl", "prepared-batch", "prepared-select", "aggregate", "metadata", "errors"}
	if err != nil || strings.Join(passed, ",") != strings.Join(want, ",") {
		t.Fatalf("JdbcCompat: %v; passed %v, want %v\n%s", err, passed, want, out)
	}
}
