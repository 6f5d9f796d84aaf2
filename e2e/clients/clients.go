// Package clients finds, for tests, the real client programs and libraries ci/clients.sh
// installs (Redis clients in Node, Python and Java, MariaDB Connector/J, Zeppelin's JDBC
// interpreter classpath, playwright-core for the web UI), and skips a test whose client is
// missing — or fails it in CI (CI=true), where every client must run.
package clients

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Dirs asks repo's ci/clients.sh where it installs each kind of client and returns those
// that are installed, by kind (node, python, java, jdbc, zeppelin, ui).
func Dirs(repo string) (map[string]string, error) {
	out, err := exec.Command("bash", filepath.Join(repo, "ci/clients.sh"), "--dirs").Output()
	if err != nil {
		return nil, fmt.Errorf("ci/clients.sh --dirs: %w", err)
	}
	dirs := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		kind, dir, ok := strings.Cut(sc.Text(), "=")
		if ok && !strings.HasSuffix(dir, "(missing)") {
			dirs[kind] = dir
		}
	}
	return dirs, sc.Err()
}

// Missing skips t, or fails it in CI, saying what is missing.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// Java returns the directory of the kind of Java client (jdbc, zeppelin) and checks java
// is on PATH; what names the client in the message when either is missing.
func Java(t testing.TB, repo, kind, what string) string {
	t.Helper()
	if _, err := exec.LookPath("java"); err != nil {
		Missing(t, "java is not installed")
	}
	dirs, err := Dirs(repo)
	if err != nil {
		t.Fatal(err)
	}
	dir, ok := dirs[kind]
	if !ok {
		Missing(t, "%s is not installed; run ci/clients.sh", what)
	}
	return dir
}
