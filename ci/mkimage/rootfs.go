package main

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// list is a repeatable string flag.
type list []string

func (l *list) String() string { return strings.Join(*l, ",") }

func (l *list) Set(v string) error {
	if v == "" {
		return errors.New("empty value")
	}
	*l = append(*l, v)
	return nil
}

// rootfsOptions are the flags of an image packed from root filesystem directories.
type rootfsOptions struct {
	dirs       list
	entrypoint list
	env        list
	workdir    string
}

// rootfsOnly are the flags that mean something only with --rootfs.
var rootfsOnly = []string{"entrypoint", "env", "workdir"}

func (r *rootfsOptions) flags(fs *flag.FlagSet) {
	fs.Var(&r.dirs, "rootfs", "directory packed as one layer, owners and modes as on disk; repeat for each layer, base first (replaces --binary)")
	fs.Var(&r.entrypoint, "entrypoint", "with --rootfs: the image's entrypoint; repeat for each argument (required)")
	fs.Var(&r.env, "env", "with --rootfs: KEY=VALUE in the image's environment; repeat for each")
	fs.StringVar(&r.workdir, "workdir", "/", "with --rootfs: the image's working directory")
}

// check refuses rootfs-only flags without --rootfs, and an incomplete --rootfs image.
func (r *rootfsOptions) check(fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if len(r.dirs) == 0 {
		for _, f := range rootfsOnly {
			if set[f] {
				return fmt.Errorf("--%s: only with --rootfs", f)
			}
		}
		return nil
	}
	if len(r.entrypoint) == 0 || !strings.HasPrefix(r.entrypoint[0], "/") {
		return fmt.Errorf("--entrypoint %q: want an absolute path inside the image", r.entrypoint.String())
	}
	if !strings.HasPrefix(r.workdir, "/") {
		return fmt.Errorf("--workdir %q: want an absolute path", r.workdir)
	}
	for _, e := range r.env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return fmt.Errorf("--env %q: want KEY=VALUE", e)
		}
	}
	for _, d := range r.dirs {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			return fmt.Errorf("--rootfs %s: not a directory", d)
		}
	}
	return nil
}

// buildRootfs packs each --rootfs directory as a layer on an empty base and writes the
// image as build does, its files named after the last element of --repo.
func buildRootfs(o options) error {
	r := o.rootfs
	ref, err := name.NewTag(o.repo + ":" + o.version)
	if err != nil {
		return fmt.Errorf("image reference %s:%s: %w", o.repo, o.version, err)
	}
	title := path.Base(o.repo)
	if err := os.MkdirAll(o.outDir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", o.outDir, err)
	}
	tmp, err := os.MkdirTemp(o.outDir, ".layers-")
	if err != nil {
		return fmt.Errorf("creating a layer directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	for i, dir := range r.dirs {
		layerTar := filepath.Join(tmp, fmt.Sprintf("layer-%d.tar", i))
		if err := tarTree(dir, layerTar, o); err != nil {
			return err
		}
		// Fastest gzip: the layers are hundreds of MB of jars that hardly compress anyway.
		layer, err := tarball.LayerFromFile(layerTar, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestSpeed))
		if err != nil {
			return fmt.Errorf("--rootfs %s: building the layer: %w", dir, err)
		}
		img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
			Created: v1.Time{Time: o.created}, CreatedBy: "ci/mkimage --rootfs", Comment: title + " " + o.version + ": " + filepath.Base(dir),
		}})
		if err != nil {
			return fmt.Errorf("--rootfs %s: adding the layer: %w", dir, err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("reading the image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Created = "amd64", "linux", v1.Time{Time: o.created}
	cf.Config = v1.Config{
		Entrypoint: r.entrypoint,
		User:       fmt.Sprintf("%d:%d", o.uid, o.uid),
		WorkingDir: r.workdir,
		Env:        r.env,
		Labels: map[string]string{
			"org.opencontainers.image.title":   title,
			"org.opencontainers.image.version": o.version,
			"org.opencontainers.image.source":  "https://github.com/insightgrid/insight",
		},
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return fmt.Errorf("setting the image config: %w", err)
	}
	stem := filepath.Join(o.outDir, title+"-"+o.version)
	digest, err := writeImage(o, ref, img, stem)
	if err != nil {
		return err
	}
	fmt.Printf("%s@%s\n  layers         %s\n  docker-archive %s\n  oci layout     %s\n  oci archive    %s\n", ref, digest, r.dirs.String(), stem+".tar", stem+"-oci", stem+".oci.tar")
	return nil
}

// tarTree writes dir's tree as a layer tar at out: regular files, directories, symlinks
// and hard links with their modes and numeric owners, every time set to o.created so equal
// trees give equal digests. Device nodes, sockets and FIFOs are left out: runtimes mount
// their own /dev.
func tarTree(dir, out string, o options) error {
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("creating %s: %w", out, err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	links := map[uint64]string{} // inode → first name, for hard links
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode()
		if mode&(fs.ModeDevice|fs.ModeCharDevice|fs.ModeSocket|fs.ModeNamedPipe) != 0 {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		var target string
		if mode&fs.ModeSymlink != 0 {
			if target, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(info, target)
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			h.Name += "/"
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no owner information", p)
		}
		h.Uid, h.Gid, h.Uname, h.Gname = int(st.Uid), int(st.Gid), "", ""
		h.ModTime, h.AccessTime, h.ChangeTime, h.Format = o.created, o.created, o.created, tar.FormatPAX
		if mode.IsRegular() && st.Nlink > 1 {
			if first, seen := links[st.Ino]; seen {
				h.Typeflag, h.Linkname, h.Size = tar.TypeLink, first, 0
			} else {
				links[st.Ino] = h.Name
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag != tar.TypeReg {
			return nil
		}
		return copyInto(tw, p)
	})
	if err != nil {
		return fmt.Errorf("--rootfs %s: writing the layer: %w", dir, err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("--rootfs %s: writing the layer: %w", dir, err)
	}
	return f.Close()
}

// copyInto writes the file at path into tw as the body of the entry just written.
func copyInto(tw *tar.Writer, path string) error {
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	_, err = io.Copy(tw, src)
	return err
}
