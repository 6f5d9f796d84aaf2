package image_test

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/insightgrid/insight/e2e/nodeagent/image"
	"github.com/insightgrid/insight/e2e/nodeagent/image/imagetest"
)

// TestOCILayoutAndArchive loads the same image as an OCI layout directory and as an OCI
// archive (a tar of the layout), named by containerd's annotation with a tag-only ref.name,
// the way the project's image build writes them.
func TestOCILayoutAndArchive(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "payload")
	if err := os.WriteFile(bin, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	const ref = "ghcr.io/insightgrid/insight-grid:0.1.0"
	docker := filepath.Join(dir, "img.tar")
	if err := imagetest.Write(imagetest.Spec{Ref: ref, Binary: bin, Path: "/insight-grid"}, docker); err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag(ref)
	img, err := tarball.ImageFromPath(docker, &tag)
	if err != nil {
		t.Fatal(err)
	}
	lay := filepath.Join(dir, "oci")
	p, err := layout.Write(lay, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": "0.1.0",
	})); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "oci.tar")
	if err := tarDir(lay, archive); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{lay, archive} {
		t.Run(filepath.Base(src), func(t *testing.T) {
			s, err := image.Load(src)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, err := s.Lookup(ref)
			if err != nil {
				t.Fatal(err)
			}
			root := filepath.Join(t.TempDir(), "rootfs")
			if err := got.Unpack(root); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(root, "insight-grid")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func tarDir(src, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == src {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name = rel
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			r, err := os.Open(p)
			if err != nil {
				return err
			}
			defer r.Close()
			_, err = io.Copy(tw, r)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
