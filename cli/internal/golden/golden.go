// Package golden compares test output with files under testdata/ and rewrites them with
// `go test ./cli/... -update` (helm's internal/test pattern). Every test package of cli/
// that has golden files imports it, so the one command accepts -update everywhere.
// It must only be imported by tests.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// Assert compares got with testdata/name, or rewrites the file with -update.
func Assert(t testing.TB, got, name string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./cli/... -update creates it)", err)
	}
	if string(want) != got {
		t.Errorf("output differs from %s (go test ./cli/... -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
