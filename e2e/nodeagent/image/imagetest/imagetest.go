// Package imagetest builds tiny single-binary images for the node agent's tests, the way the
// project packs its images: a static Go binary in one layer, written as a docker-archive
// tarball with go-containerregistry. Test-only; depends on nothing but go-containerregistry.
package imagetest

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// BuildBinary compiles the Go package pkg (a path the go tool accepts) statically into
// dir/name and returns that path.
func BuildBinary(pkg, dir, name string) (string, error) {
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}

// Spec describes the image to write.
type Spec struct {
	Ref        string   // e.g. example.test/app:1
	Binary     string   // host path of the static binary
	Path       string   // where the binary lands in the image, e.g. /app
	Entrypoint []string // defaults to [Path]
	Cmd        []string
	Env        []string
	User       string
	WorkingDir string
}

// Write packs the image into a docker-archive tarball at out.
func Write(s Spec, out string) error {
	bin, err := os.ReadFile(s.Binary)
	if err != nil {
		return fmt.Errorf("read binary: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"etc/", "tmp/", "data/"} {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: mode}); err != nil {
			return err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: s.Path[1:], Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bin))}); err != nil {
		return err
	}
	if _, err := tw.Write(bin); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
	if err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return fmt.Errorf("append layer: %w", err)
	}
	cfg := v1.Config{
		Entrypoint: s.Entrypoint,
		Cmd:        s.Cmd,
		Env:        append([]string{"PATH=/usr/local/bin:/usr/bin:/bin"}, s.Env...),
		User:       s.User,
		WorkingDir: s.WorkingDir,
	}
	if cfg.Entrypoint == nil {
		cfg.Entrypoint = []string{s.Path}
	}
	img, err = mutate.Config(img, cfg)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	tag, err := name.NewTag(s.Ref)
	if err != nil {
		return fmt.Errorf("ref %q: %w", s.Ref, err)
	}
	if err := tarball.WriteToFile(out, tag, img); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}
