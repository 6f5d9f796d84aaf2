package local

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/insightgrid/insight/grid/internal/tlsconf"
)

func TestWriteOperatorTokenMakesANewPrivateTokenEachStart(t *testing.T) {
	dir := t.TempDir()
	seen := map[string]bool{}
	for range 3 {
		path, err := writeOperatorToken(dir)
		if err != nil {
			t.Fatal(err)
		}
		if path != filepath.Join(dir, "operator-token") {
			t.Fatalf("token file %s, want %s/operator-token", path, dir)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("token file mode %v, want 0600", fi.Mode().Perm())
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		tok := strings.TrimSuffix(string(b), "\n")
		if raw, err := hex.DecodeString(tok); err != nil || len(raw) != 32 {
			t.Fatalf("token %q: want 32 random bytes in hex (%v)", tok, err)
		}
		if seen[tok] {
			t.Fatalf("token %q made twice", tok)
		}
		seen[tok] = true
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "operator-token.*")); len(left) != 0 {
		t.Fatalf("temporary files left behind: %v", left)
	}
}

func TestWriteOperatorTokenNamesTheDirectoryItCannotWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "absent")
	if _, err := writeOperatorToken(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("error %v, want one naming %s", err, dir)
	}
}

func TestDataArgsPassTheOperatorTokenFile(t *testing.T) {
	cfg := Config{Partitions: 1, BasePort: 7000, Bind: "127.0.0.1", LogLevel: "info", LogFormat: "text", tokenFile: "/d/operator-token"}
	l := NewLayout(cfg)
	args := dataArgs(cfg, l, l.Instances[0], true)
	if i := slices.Index(args, "--operator-token-file"); i < 0 || args[i+1] != "/d/operator-token" {
		t.Fatalf("dataArgs = %v, want --operator-token-file /d/operator-token", args)
	}
	cfg.tokenFile = "" // --insecure
	if args := dataArgs(cfg, l, l.Instances[0], true); slices.Contains(args, "--operator-token-file") {
		t.Fatalf("dataArgs with --insecure = %v, want no token file", args)
	}
}

func TestDataArgsRunTheInternalLinksAndRESPOverTLS(t *testing.T) {
	cfg := Config{Partitions: 1, HA: true, BasePort: 7000, Bind: "127.0.0.1", LogLevel: "info", LogFormat: "text",
		tls: tlsconf.Files{Cert: "/d/tls/tls.crt", Key: "/d/tls/tls.key", CA: "/d/tls/ca.crt"}}
	l := NewLayout(cfg)
	args := dataArgs(cfg, l, l.Instances[1], true)
	for flag, want := range map[string]string{
		"--tls-cert-file": "/d/tls/tls.crt", "--tls-key-file": "/d/tls/tls.key", "--tls-ca-cert-file": "/d/tls/ca.crt",
		"--port": "7011", "--tls-port": "7511", "--repl-port": "8511", "--tls-auth-clients": "optional",
	} {
		if i := slices.Index(args, flag); i < 0 || args[i+1] != want {
			t.Errorf("dataArgs = %v, want %s %s", args, flag, want)
		}
	}
	if !slices.Contains(args, "--tls-http=false") {
		t.Errorf("dataArgs = %v, want --tls-http=false (local's HTTP ports stay plain)", args)
	}
	cfg.tls = tlsconf.Files{} // --insecure
	for _, a := range dataArgs(cfg, l, l.Instances[1], true) {
		if strings.HasPrefix(a, "--tls") || a == "--repl-port" {
			t.Errorf("dataArgs with --insecure has %s", a)
		}
	}
}
