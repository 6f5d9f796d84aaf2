package main

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// writeFile writes data at dir/name and returns the path.
func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestImageHoldsEveryBinary packs two binaries and reads the docker archive back: both sit
// at /<name> with mode 0755, the entrypoint stays /insight-grid, the user is the non-root
// UID, and the exposed ports are the union of both binaries' ports.
func TestImageHoldsEveryBinary(t *testing.T) {
	dir := t.TempDir()
	grid := writeFile(t, dir, "bin/insight-grid", "grid binary")
	sql := writeFile(t, dir, "bin/insight-sql", "sql binary")
	ca := writeFile(t, dir, "ca.crt", "certificates")
	out := filepath.Join(dir, "images")
	if err := run([]string{"--binary", grid, "--binary", sql, "--version", "1.2.3", "--ca-certificates", ca, "--out", out}); err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(filepath.Join(out, "insight-grid-1.2.3.tar"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cf.Config.Entrypoint, " "); got != "/insight-grid" {
		t.Errorf("entrypoint %q, want /insight-grid", got)
	}
	if cf.Config.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532", cf.Config.User)
	}
	for _, p := range []string{"6379/tcp", "8090/tcp", "3306/tcp", "9104/tcp"} {
		if _, ok := cf.Config.ExposedPorts[p]; !ok {
			t.Errorf("port %s not exposed: %v", p, cf.Config.ExposedPorts)
		}
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers %d, err %v: want one layer", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = string(data)
		if (h.Name == "insight-grid" || h.Name == "insight-sql") && h.Mode != 0o755 {
			t.Errorf("%s mode %o, want 755", h.Name, h.Mode)
		}
	}
	if files["insight-grid"] != "grid binary" || files["insight-sql"] != "sql binary" {
		t.Errorf("binaries in the layer: grid %q, sql %q", files["insight-grid"], files["insight-sql"])
	}
}

// TestDefaultsToTheGridBinary checks that without --binary the image holds only
// bin/insight-grid, as before the SQL role existed.
func TestDefaultsToTheGridBinary(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "bin/insight-grid", "grid binary")
	ca := writeFile(t, dir, "ca.crt", "certificates")
	t.Chdir(dir)
	if err := run([]string{"--version", "1.2.3", "--ca-certificates", ca, "--out", "images"}); err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(filepath.Join(dir, "images", "insight-grid-1.2.3.tar"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var ports []string
	for p := range cf.Config.ExposedPorts {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	if got := strings.Join(ports, " "); got != "2379/tcp 2380/tcp 6379/tcp 8080/tcp 8090/tcp" {
		t.Errorf("exposed ports %s, want only insight-grid's", got)
	}
}

// TestBadBinaries checks that each wrong set of --binary flags is refused with a message
// naming the flag and what is allowed.
func TestBadBinaries(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"same name twice", []string{"--binary", "a/insight-grid", "--binary", "b/insight-grid"}, "--binary a/insight-grid and --binary b/insight-grid: both would be /insight-grid in the image"},
		{"unknown binary", []string{"--binary", "bin/insight-grid", "--binary", "bin/redis-server"}, `--binary bin/redis-server: unknown binary "redis-server"; want one of insight-grid, insight-sql`},
		{"no entrypoint", []string{"--binary", "bin/insight-sql"}, "--binary bin/insight-sql: the image's entrypoint insight-grid is not among them"},
		{"empty path", []string{"--binary", ""}, `invalid value "" for flag -binary: empty path`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := run(append(tt.args, "--version", "1.2.3", "--out", t.TempDir()))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run(%v) = %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}
