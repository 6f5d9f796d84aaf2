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

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestRootfsLayers packs two directories and reads the docker archive back: one layer per
// directory in order, regular files with their modes, symlinks, hard links as links, owners
// as on disk, and the entrypoint, user, environment and working directory of the flags.
func TestRootfsLayers(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base")
	writeFile(t, base, "usr/bin/tool", "tool")
	if err := os.Symlink("/usr/bin/tool", filepath.Join(base, "usr/bin/alias")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(base, "usr/bin/tool"), filepath.Join(base, "usr/bin/tool2")); err != nil {
		t.Fatal(err)
	}
	top := filepath.Join(dir, "top")
	writeFile(t, top, "opt/entrypoint.sh", "#!/bin/sh\n")
	if err := os.MkdirAll(filepath.Join(top, "opt/work"), 0o775); err != nil {
		t.Fatal(err)
	}
	uid := os.Getuid()
	out := filepath.Join(dir, "images")
	err := run([]string{"--rootfs", base, "--rootfs", top, "--repo", "example.org/x/insight-thing", "--version", "1.2.3",
		"--uid", "185", "--entrypoint", "/opt/entrypoint.sh", "--workdir", "/opt/work", "--env", "A=1", "--env", "B=2", "--out", out})
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(filepath.Join(out, "insight-thing-1.2.3.tar"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if strings.Join(c.Entrypoint, " ") != "/opt/entrypoint.sh" || c.User != "185:185" || c.WorkingDir != "/opt/work" ||
		strings.Join(c.Env, " ") != "A=1 B=2" || c.Labels["org.opencontainers.image.title"] != "insight-thing" {
		t.Errorf("config %+v: want entrypoint /opt/entrypoint.sh, user 185:185, workdir /opt/work, env A=1 B=2, title insight-thing", c)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 2 {
		t.Fatalf("layers %d, err %v: want two", len(layers), err)
	}
	var got [][]string
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		var entries []string
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Uid != uid {
				t.Errorf("%s: uid %d, want the owner on disk %d", h.Name, h.Uid, uid)
			}
			e := h.Name
			switch h.Typeflag {
			case tar.TypeSymlink:
				e += " -> " + h.Linkname
			case tar.TypeLink:
				e += " link " + h.Linkname
			case tar.TypeReg:
				e += " " + h.FileInfo().Mode().Perm().String()
			}
			entries = append(entries, e)
		}
		rc.Close()
		got = append(got, entries)
	}
	want := [][]string{
		{"usr/", "usr/bin/", "usr/bin/alias -> /usr/bin/tool", "usr/bin/tool -rwxr-xr-x", "usr/bin/tool2 link usr/bin/tool"},
		{"opt/", "opt/entrypoint.sh -rwxr-xr-x", "opt/work/"},
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("layer %d holds %q, want %q", i, got[i], want[i])
		}
	}
	if _, err := layout.ImageIndexFromPath(filepath.Join(out, "insight-thing-1.2.3-oci")); err != nil {
		t.Errorf("OCI layout: %v", err)
	}
}

// TestBadRootfs checks that each wrong use of the --rootfs flags is refused with a message
// naming the flag and what is allowed.
func TestBadRootfs(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "file", "x")
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"entrypoint without rootfs", []string{"--entrypoint", "/x"}, "--entrypoint: only with --rootfs"},
		{"env without rootfs", []string{"--env", "A=1"}, "--env: only with --rootfs"},
		{"binary and rootfs", []string{"--rootfs", dir, "--entrypoint", "/x", "--binary", "bin/insight-grid"}, "--binary and --rootfs: give one or the other"},
		{"no entrypoint", []string{"--rootfs", dir}, `--entrypoint "": want an absolute path inside the image`},
		{"relative entrypoint", []string{"--rootfs", dir, "--entrypoint", "x.sh"}, `--entrypoint "x.sh": want an absolute path inside the image`},
		{"relative workdir", []string{"--rootfs", dir, "--entrypoint", "/x", "--workdir", "w"}, `--workdir "w": want an absolute path`},
		{"env without value", []string{"--rootfs", dir, "--entrypoint", "/x", "--env", "A"}, `--env "A": want KEY=VALUE`},
		{"not a directory", []string{"--rootfs", file, "--entrypoint", "/x"}, "--rootfs " + file + ": not a directory"},
		{"root user", []string{"--rootfs", dir, "--entrypoint", "/x", "--uid", "0"}, "--uid 0: must be a non-root id (> 0)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := run(append(tt.args, "--version", "1.2.3", "--out", t.TempDir()))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run(%v) = %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}
