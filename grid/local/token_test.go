package local

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
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
