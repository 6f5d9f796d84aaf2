package itest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// jdbcDir is where ci/clients.sh installed MariaDB Connector/J, or "".
func jdbcDir(repo string) (string, error) {
	out, err := exec.Command("bash", filepath.Join(repo, "ci/clients.sh"), "--dirs").Output()
	if err != nil {
		return "", fmt.Errorf("ci/clients.sh --dirs: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if dir, ok := strings.CutPrefix(sc.Text(), "jdbc="); ok && !strings.HasSuffix(dir, "(missing)") {
			return dir, nil
		}
	}
	return "", sc.Err()
}

// TestJDBC runs e2e/clients/jdbc/JdbcCompat.java with MariaDB Connector/J, as Zeppelin's
// JDBC interpreter connects: server-side prepared statements and batches, result-set
// types and NULLs, DatabaseMetaData, error codes. Skipped without java or the driver
// (ci/clients.sh installs it), except in CI.
func TestJDBC(t *testing.T) {
	repo, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	skip := t.Skipf
	if os.Getenv("CI") == "true" {
		skip = t.Fatalf
	}
	if _, err := exec.LookPath("java"); err != nil {
		skip("java is not installed")
	}
	dir, err := jdbcDir(repo)
	if err != nil {
		t.Fatal(err)
	}
	if dir == "" {
		skip("MariaDB Connector/J is not installed; run ci/clients.sh")
	}
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
