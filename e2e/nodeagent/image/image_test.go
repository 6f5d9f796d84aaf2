package image_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/insightgrid/insight/e2e/nodeagent/image"
	"github.com/insightgrid/insight/e2e/nodeagent/image/imagetest"
)

func TestLookupAndUnpack(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "payload")
	if err := os.WriteFile(bin, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tarA := filepath.Join(dir, "a.tar")
	if err := imagetest.Write(imagetest.Spec{Ref: "ghcr.io/insightgrid/insight-grid:0.1.0", Binary: bin, Path: "/usr/bin/grid"}, tarA); err != nil {
		t.Fatal(err)
	}
	tarB := filepath.Join(dir, "b.tar")
	if err := imagetest.Write(imagetest.Spec{Ref: "busybox:1.36", Binary: bin, Path: "/bin/sh", Env: []string{"A=1"}}, tarB); err != nil {
		t.Fatal(err)
	}
	s, err := image.Load(tarA, tarB)
	if err != nil {
		t.Fatal(err)
	}
	busy, err := s.Lookup("busybox:1.36")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ref     string
		wantRef string
		wantErr error
	}{
		{"ghcr.io/insightgrid/insight-grid:0.1.0", "ghcr.io/insightgrid/insight-grid:0.1.0", nil},
		{"busybox:1.36", "index.docker.io/library/busybox:1.36", nil},
		{"docker.io/library/busybox:1.36", "index.docker.io/library/busybox:1.36", nil},
		{"docker.io/busybox:1.36", "index.docker.io/library/busybox:1.36", nil},
		{"index.docker.io/library/busybox@" + busy.Digest.String(), "index.docker.io/library/busybox:1.36", nil},
		{"busybox", "", image.ErrNotFound},
		{"ghcr.io/insightgrid/insight-grid:0.2.0", "", image.ErrNotFound},
		{"busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000", "", image.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, err := s.Lookup(tt.ref)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Ref != tt.wantRef {
				t.Fatalf("ref = %s, want %s", got.Ref, tt.wantRef)
			}
		})
	}
	if _, err := s.Lookup("Not A Ref"); err == nil {
		t.Fatal("want error for invalid reference")
	}
	if got := busy.Config.Env; len(got) != 2 || got[1] != "A=1" {
		t.Fatalf("env = %v", got)
	}
	root := filepath.Join(dir, "rootfs")
	if err := busy.Unpack(root); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(root, "bin/sh"))
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("bin/sh: %v %v", fi, err)
	}
	if fi, err := os.Stat(filepath.Join(root, "tmp")); err != nil || fi.Mode()&os.ModeSticky == 0 {
		t.Fatalf("tmp: %v %v", fi, err)
	}
}
