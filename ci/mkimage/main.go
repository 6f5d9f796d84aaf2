// Command mkimage packs the static binaries of the suite (insight-grid, and insight-sql when
// it is built) into one OCI image without a container engine: one layer on an empty base
// holding each binary at /<its name>, the build host's CA certificates and a minimal
// /etc/passwd for the non-root user. The entrypoint is /insight-grid; the SQL role's pods
// name /insight-sql as their command. It writes the image as an
// OCI image layout directory, as an OCI archive (the layout in a tar, for
// `skopeo copy oci-archive:`) and as a docker-archive compatible tarball (for `docker load`,
// `crane push` and the local cluster's node agent). It depends only on go-containerregistry.
//
// With --rootfs it packs directories instead (rootfs.go): each one layer, in order, for
// images built from a root filesystem such as insight-spark (ci/spark-image.sh), with the
// entrypoint, user, environment and working directory given as flags.
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// entrypoint is the binary the image runs unless a pod names another as its command.
const entrypoint = "insight-grid"

// exposedPorts are the ports each binary listens on, published in the image config.
var exposedPorts = map[string][]string{
	"insight-grid": {"6379/tcp", "8080/tcp", "2379/tcp", "2380/tcp", "8090/tcp"},
	"insight-sql":  {"3306/tcp", "9104/tcp"},
}

// binaries is the repeatable --binary flag: paths of static linux/amd64 binaries.
type binaries []string

func (b *binaries) String() string { return strings.Join(*b, ",") }

func (b *binaries) Set(v string) error {
	if v == "" {
		return errors.New("empty path")
	}
	*b = append(*b, v)
	return nil
}

type options struct {
	binaries binaries
	version  string
	repo     string
	caFile   string
	outDir   string
	uid      int
	created  time.Time
	rootfs   rootfsOptions
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var o options
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fs.Var(&o.binaries, "binary", "static linux/amd64 binary put at /<its file name>; repeat for each (default bin/insight-grid, which must be among them: it is the entrypoint)")
	fs.StringVar(&o.version, "version", "", "image tag, the release version (required)")
	fs.StringVar(&o.repo, "repo", "ghcr.io/insightgrid/insight-grid", "image repository")
	fs.StringVar(&o.caFile, "ca-certificates", "/etc/ssl/certs/ca-certificates.crt", "CA bundle copied into the image")
	fs.StringVar(&o.outDir, "out", "bin/images", "output directory")
	fs.IntVar(&o.uid, "uid", 65532, "non-root user and group id the image runs as")
	o.rootfs.flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.version == "" {
		return errors.New("--version is required (the image tag, e.g. 0.1.0)")
	}
	if err := o.rootfs.check(fs); err != nil {
		return err
	}
	if len(o.rootfs.dirs) > 0 {
		if len(o.binaries) > 0 {
			return errors.New("--binary and --rootfs: give one or the other (binaries on an empty base, or root filesystem directories)")
		}
		if err := setCreated(&o); err != nil {
			return err
		}
		return buildRootfs(o)
	}
	if len(o.binaries) == 0 {
		o.binaries = binaries{"bin/insight-grid"}
	}
	if err := checkBinaries(o.binaries); err != nil {
		return err
	}
	if err := setCreated(&o); err != nil {
		return err
	}
	return build(o)
}

// setCreated checks the user id and sets the creation time: reproducible digests take it
// from SOURCE_DATE_EPOCH, else the epoch.
func setCreated(o *options) error {
	if o.uid <= 0 {
		return fmt.Errorf("--uid %d: must be a non-root id (> 0)", o.uid)
	}
	o.created = time.Unix(0, 0).UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: want seconds since 1970", s)
		}
		o.created = time.Unix(sec, 0).UTC()
	}
	return nil
}

// checkBinaries refuses two binaries with one file name (one would hide the other), names
// without exposed ports on record, and a set without the entrypoint.
func checkBinaries(paths []string) error {
	seen := map[string]string{}
	for _, p := range paths {
		name := filepath.Base(p)
		if prev, ok := seen[name]; ok {
			return fmt.Errorf("--binary %s and --binary %s: both would be /%s in the image", prev, p, name)
		}
		if _, ok := exposedPorts[name]; !ok {
			return fmt.Errorf("--binary %s: unknown binary %q; want one of %s", p, name, strings.Join(slices.Sorted(maps.Keys(exposedPorts)), ", "))
		}
		seen[name] = p
	}
	if _, ok := seen[entrypoint]; !ok {
		return fmt.Errorf("--binary %s: the image's entrypoint %s is not among them", strings.Join(paths, ", "), entrypoint)
	}
	return nil
}

// file is one binary as it goes into the layer.
type file struct {
	name string
	data []byte
}

func build(o options) error {
	ref, err := name.NewTag(o.repo + ":" + o.version)
	if err != nil {
		return fmt.Errorf("image reference %s:%s: %w", o.repo, o.version, err)
	}
	var bins []file
	for _, p := range o.binaries {
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("reading the binary (build it first with ci/image.sh): %w", err)
		}
		bins = append(bins, file{name: filepath.Base(p), data: data})
	}
	names := make([]string, len(bins))
	ports := map[string]struct{}{}
	for i, b := range bins {
		names[i] = b.name
		for _, p := range exposedPorts[b.name] {
			ports[p] = struct{}{}
		}
	}
	ca, err := os.ReadFile(o.caFile)
	if err != nil {
		return fmt.Errorf("reading CA certificates (Debian: apt-get install ca-certificates): %w", err)
	}
	layerTar, err := rootfs(o, bins, ca)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return fmt.Errorf("building the layer: %w", err)
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: o.created}, CreatedBy: "ci/mkimage", Comment: "insight-grid " + o.version + ": " + strings.Join(names, ", "),
	}})
	if err != nil {
		return fmt.Errorf("adding the layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("reading the image config: %w", err)
	}
	cf = cf.DeepCopy()
	user := fmt.Sprintf("%d:%d", o.uid, o.uid)
	cf.Architecture, cf.OS, cf.Created = "amd64", "linux", v1.Time{Time: o.created}
	cf.Config = v1.Config{
		Entrypoint:   []string{"/" + entrypoint},
		User:         user,
		WorkingDir:   "/",
		Env:          []string{"PATH=/", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		ExposedPorts: ports,
		Labels: map[string]string{
			"org.opencontainers.image.title":   "insight-grid",
			"org.opencontainers.image.version": o.version,
			"org.opencontainers.image.source":  "https://github.com/insightgrid/insight",
		},
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return fmt.Errorf("setting the image config: %w", err)
	}
	stem := filepath.Join(o.outDir, "insight-grid-"+o.version)
	digest, err := writeImage(o, ref, img, stem)
	if err != nil {
		return err
	}
	fmt.Printf("%s@%s\n  binaries       %s\n  docker-archive %s\n  oci layout     %s\n  oci archive    %s\n", ref, digest, strings.Join(names, ", "), stem+".tar", stem+"-oci", stem+".oci.tar")
	return nil
}

// writeImage writes img as <stem>.tar (docker-archive), <stem>-oci/ (OCI layout) and
// <stem>.oci.tar (OCI archive), and returns its digest.
func writeImage(o options, ref name.Tag, img v1.Image, stem string) (v1.Hash, error) {
	if err := os.MkdirAll(o.outDir, 0o755); err != nil {
		return v1.Hash{}, fmt.Errorf("creating %s: %w", o.outDir, err)
	}
	tarPath := stem + ".tar"
	if err := tarball.WriteToFile(tarPath, ref, img); err != nil {
		return v1.Hash{}, fmt.Errorf("writing %s: %w", tarPath, err)
	}
	layoutDir := stem + "-oci"
	if err := os.RemoveAll(layoutDir); err != nil {
		return v1.Hash{}, fmt.Errorf("replacing %s: %w", layoutDir, err)
	}
	lp, err := layout.Write(layoutDir, empty.Index)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("writing OCI layout %s: %w", layoutDir, err)
	}
	// ref.name makes the tag addressable as oci:<dir>:<version> and oci-archive:<tar>:<version>.
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": o.version,
		"io.containerd.image.name":          ref.String(),
	})); err != nil {
		return v1.Hash{}, fmt.Errorf("adding the image to %s: %w", layoutDir, err)
	}
	if err := tarDir(layoutDir, stem+".oci.tar"); err != nil {
		return v1.Hash{}, err
	}
	digest, err := img.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("computing the image digest: %w", err)
	}
	return digest, nil
}

// rootfs returns the image's single layer: the binaries, CA certificates, passwd/group for
// the non-root user, and writable /tmp and /data owned by it.
func rootfs(o options, bins []file, ca []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", o.uid, o.uid)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", o.uid)
	type entry struct {
		name string
		mode int64
		uid  int
		dir  bool
		data []byte
	}
	entries := []entry{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/ssl/", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: ca},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "home/", mode: 0o755, dir: true},
		{name: "home/nonroot/", mode: 0o700, uid: o.uid, dir: true},
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: "data/", mode: 0o700, uid: o.uid, dir: true},
	}
	for _, b := range bins {
		entries = append(entries, entry{name: b.name, mode: 0o755, data: b.data})
	}
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: o.created, Format: tar.FormatPAX}
		if e.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("closing the layer: %w", err)
	}
	return buf.Bytes(), nil
}

// tarDir writes dir's contents as a tar archive at path: an OCI layout in a tar is an
// oci-archive.
func tarDir(dir, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			h.Name += "/"
		}
		h.ModTime, h.Uid, h.Gid, h.Uname, h.Gname = time.Unix(0, 0), 0, 0, "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		return copyInto(tw, p)
	})
	if err != nil {
		return fmt.Errorf("writing OCI archive %s: %w", path, err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("writing OCI archive %s: %w", path, err)
	}
	return f.Close()
}
