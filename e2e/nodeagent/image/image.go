// Package image loads container images from local archives (docker-archive tarballs and OCI
// image layouts written by go-containerregistry), matches a pod's image reference against them
// and unpacks an image into a root filesystem directory.
//
// It is part of the test-only node agent: it never talks to a registry and must not depend on
// Kubernetes packages.
package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// ErrNotFound is returned by Store.Lookup when no loaded archive holds the reference.
var ErrNotFound = errors.New("image not found in the node agent's local archives")

// Image is one loaded image with its parsed config.
type Image struct {
	// Ref is the fully qualified reference the archive names it by (e.g. index.docker.io/library/x:1).
	Ref    string
	Digest v1.Hash
	Config v1.Config
	Source string // the archive it came from
	img    v1.Image
}

// Store is an immutable set of images loaded at start.
type Store struct {
	byRef    map[string]*Image
	byDigest map[string]*Image
	tmpDirs  []string // unpacked OCI archives, read lazily
}

// Load reads every archive. A directory is read as an OCI image layout; a tar file holding
// index.json (an OCI archive) is unpacked to a temporary layout; any other file is read as a
// docker-archive tarball (`tarball.Write` / `docker save` format). Call Close when done.
func Load(paths ...string) (*Store, error) {
	s := &Store{byRef: map[string]*Image{}, byDigest: map[string]*Image{}}
	for _, p := range paths {
		if err := s.load(p); err != nil {
			s.Close()
			return nil, fmt.Errorf("image archive %q: %w", p, err)
		}
	}
	return s, nil
}

func (s *Store) load(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return s.loadLayout(p)
	}
	oci, err := isOCIArchive(p)
	if err != nil {
		return err
	}
	if !oci {
		return s.loadTarball(p)
	}
	dir, err := os.MkdirTemp("", "nodeagent-oci-")
	if err != nil {
		return err
	}
	s.tmpDirs = append(s.tmpDirs, dir)
	if err := untar(p, dir); err != nil {
		return fmt.Errorf("unpack OCI archive: %w", err)
	}
	return s.loadLayout(dir)
}

// Close removes temporary files of OCI archives.
func (s *Store) Close() {
	for _, d := range s.tmpDirs {
		_ = os.RemoveAll(d)
	}
}

func isOCIArchive(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	index := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return index, nil
		}
		if err != nil {
			return false, fmt.Errorf("read tar: %w", err)
		}
		switch filepath.Clean(h.Name) {
		case "manifest.json":
			return false, nil
		case "index.json":
			index = true
		}
	}
}

func untar(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeDir {
			continue
		}
		if err := writeEntry(dir, h, tr); err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
	}
}

func (s *Store) loadTarball(path string) error {
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
	if err != nil {
		return fmt.Errorf("read docker-archive manifest.json: %w", err)
	}
	n := 0
	for _, d := range m {
		for _, t := range d.RepoTags {
			tag, err := name.NewTag(t)
			if err != nil {
				return fmt.Errorf("repo tag %q: %w", t, err)
			}
			img, err := tarball.ImageFromPath(path, &tag)
			if err != nil {
				return fmt.Errorf("open %s: %w", t, err)
			}
			if err := s.add(tag.Name(), path, img); err != nil {
				return err
			}
			n++
		}
	}
	if n == 0 {
		return errors.New("archive holds no tagged image (RepoTags empty)")
	}
	return nil
}

func (s *Store) loadLayout(dir string) error {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return fmt.Errorf("read OCI layout: %w", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("read OCI index.json: %w", err)
	}
	for _, d := range im.Manifests {
		// containerd's annotation holds the full reference; the OCI one is usually just a tag
		// and is used only when it names a repository too.
		refName := d.Annotations["io.containerd.image.name"]
		if r := d.Annotations["org.opencontainers.image.ref.name"]; refName == "" && strings.ContainsAny(r, "/:@") {
			refName = r
		}
		if refName == "" {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return fmt.Errorf("image %s: %w", d.Digest, err)
		}
		ref, err := name.ParseReference(refName)
		if err != nil {
			return fmt.Errorf("ref.name annotation %q: %w", refName, err)
		}
		if err := s.add(ref.Name(), dir, img); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) add(ref, source string, img v1.Image) error {
	dg, err := img.Digest()
	if err != nil {
		return fmt.Errorf("digest of %s: %w", ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("config of %s: %w", ref, err)
	}
	e := &Image{Ref: ref, Digest: dg, Config: cf.Config, Source: source, img: img}
	s.byRef[ref] = e
	s.byDigest[dg.String()] = e
	return nil
}

// Refs lists the loaded references, sorted.
func (s *Store) Refs() []string {
	out := make([]string, 0, len(s.byRef))
	for r := range s.byRef {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// Lookup finds the image a pod's `image:` field names. References are normalized the way
// container runtimes do ("busybox" is index.docker.io/library/busybox:latest); a digest
// reference matches the image's manifest digest.
func (s *Store) Lookup(ref string) (*Image, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("invalid image reference %q: %w", ref, err)
	}
	if d, ok := r.(name.Digest); ok {
		if e := s.byDigest[d.DigestStr()]; e != nil {
			return e, nil
		}
		return nil, fmt.Errorf("%w: %s (loaded: %s)", ErrNotFound, ref, strings.Join(s.Refs(), ", "))
	}
	if e := s.byRef[r.Name()]; e != nil {
		return e, nil
	}
	return nil, fmt.Errorf("%w: %s (loaded: %s)", ErrNotFound, ref, strings.Join(s.Refs(), ", "))
}

// Unpack writes the image's flattened filesystem (whiteouts applied) into dir, which must
// not exist yet or be empty. Device nodes are skipped: the sandbox mounts its own /dev.
func (i *Image) Unpack(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create rootfs %s: %w", dir, err)
	}
	rc := mutate.Extract(i.img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("unpack %s: %w", i.Ref, err)
		}
		if err := writeEntry(dir, h, tr); err != nil {
			return fmt.Errorf("unpack %s: %s: %w", i.Ref, h.Name, err)
		}
	}
}

func writeEntry(root string, h *tar.Header, r io.Reader) error {
	clean := filepath.Clean("/" + h.Name)
	if clean == "/" {
		return nil
	}
	// Resolve the parent inside root so a symlink in the image cannot point writes outside it.
	parent, err := securejoin.SecureJoin(root, filepath.Dir(clean))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	target := filepath.Join(parent, filepath.Base(clean))
	mode := h.FileInfo().Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky)
	switch h.Typeflag {
	case tar.TypeDir:
		if fi, err := os.Lstat(target); err == nil && !fi.IsDir() {
			_ = os.Remove(target)
		}
		if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
		if err := os.Chmod(target, mode); err != nil {
			return err
		}
	case tar.TypeReg:
		_ = os.Remove(target)
		f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		if err := os.Chmod(target, mode); err != nil {
			return err
		}
	case tar.TypeSymlink:
		_ = os.Remove(target)
		if err := os.Symlink(h.Linkname, target); err != nil {
			return err
		}
	case tar.TypeLink:
		src, err := securejoin.SecureJoin(root, h.Linkname)
		if err != nil {
			return err
		}
		_ = os.Remove(target)
		if err := os.Link(src, target); err != nil {
			return err
		}
	default:
		return nil
	}
	return os.Lchown(target, h.Uid, h.Gid)
}
