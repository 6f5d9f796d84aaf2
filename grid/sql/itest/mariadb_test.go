package itest

import (
	"net"
	"os/exec"
	"strings"
	"testing"
)

// mariadb runs Debian's mariadb client in batch mode against the endpoint.
func mariadb(t *testing.T, bin, pass, script string) (string, error) {
	t.Helper()
	host, port, _ := net.SplitHostPort(env.sqlAddr)
	cmd := exec.CommandContext(ctx(t), bin, "--batch", "--skip-ssl", "-h", host, "-P", port,
		"-u", "insight", "--password="+pass, "insight", "-e", script)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestMariaDBClient drives the endpoint with Debian's mariadb command-line client: its
// handshake and native password, a table's life, NULL plus warning for a bad value, and
// an error with its code and SQLSTATE.
func TestMariaDBClient(t *testing.T) {
	bin, err := exec.LookPath("mariadb")
	if err != nil {
		t.Skip("the mariadb client is not installed (ci/tools.sh installs mariadb-client)")
	}
	c := ctx(t)
	if err := env.rdb.HSet(c, "mc_city:3", "name", "Rome", "pop", "many").Err(); err != nil {
		t.Fatal(err)
	}
	out, err := mariadb(t, bin, password, strings.Join([]string{
		"CREATE TABLE mc_city (id INT PRIMARY KEY, name VARCHAR(20), pop INT)",
		"INSERT INTO mc_city VALUES (1, 'Oslo', 700000), (2, 'Lima', 10000000)",
		"SELECT id, name, pop FROM mc_city ORDER BY id",
		"SHOW WARNINGS",
		"SELECT name FROM mc_city WHERE id IN (2, 3) ORDER BY id",
	}, ";\n"))
	if err != nil {
		t.Fatalf("mariadb: %v\n%s", err, out)
	}
	want := strings.Join([]string{
		"id\tname\tpop", "1\tOslo\t700000", "2\tLima\t10000000", "3\tRome\tNULL",
		"Level\tCode\tMessage",
		"Warning\t1366\tIncorrect integer value: 'many' for column 'pop' in row mc_city:3: invalid syntax; read as NULL",
		"name", "Lima", "Rome", "",
	}, "\n")
	if out != want {
		t.Errorf("mariadb output:\n%s\nwant:\n%s", out, want)
	}
	out, err = mariadb(t, bin, password, "SELECT * FROM mc_nowhere")
	if err == nil || !strings.Contains(out, "ERROR 1146 (42S02)") {
		t.Errorf("unknown table through mariadb: %v\n%s", err, out)
	}
	if out, err := mariadb(t, bin, "nope", "SELECT 1"); err == nil || !strings.Contains(out, "ERROR 1045 (28000)") {
		t.Errorf("wrong password through mariadb: %v\n%s", err, out)
	}
}
