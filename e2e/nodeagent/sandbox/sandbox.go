// Package sandbox is the test node agent's tiny container runtime: no network namespace, no
// cgroups, just a private mount (and UTS) namespace, a chroot into the unpacked image, bind-mounted
// volumes, a minimal /dev and /proc, and dropped user and group IDs.
//
// The agent starts `nodeagent exec-container <spec.json>` through Command; that child process
// calls Exec, which sets up the namespace and replaces itself with the container's process.
// Because the mounts live only in the child's namespace, they vanish with its last process: there
// is nothing to unmount on the host. It must not depend on Kubernetes packages.
package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// SubCommand is the argv[1] under which the agent binary runs Exec.
const SubCommand = "exec-container"

// Mount is one bind mount into the container.
type Mount struct {
	Source   string `json:"source"` // host path (file or directory)
	Target   string `json:"target"` // absolute path inside the container
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// Spec is everything the child needs; it is written as JSON next to the pod's rootfs.
type Spec struct {
	Rootfs       string   `json:"rootfs"`
	ReadOnlyRoot bool     `json:"readOnlyRoot,omitempty"`
	Hostname     string   `json:"hostname,omitempty"`
	HostsFile    string   `json:"hostsFile,omitempty"`  // bound at /etc/hosts
	ResolvFile   string   `json:"resolvFile,omitempty"` // bound at /etc/resolv.conf
	Mounts       []Mount  `json:"mounts,omitempty"`
	WorkingDir   string   `json:"workingDir,omitempty"`
	UID          uint32   `json:"uid"`
	GID          uint32   `json:"gid"`
	Groups       []uint32 `json:"groups,omitempty"`
	Argv         []string `json:"argv"`
	Env          []string `json:"env"`
}

// WriteSpec stores s at path (mode 0600: it may hold secret values).
func WriteSpec(path string, s *Spec) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode sandbox spec: %w", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("write sandbox spec: %w", err)
	}
	return nil
}

// Command returns the command that runs the spec at specPath in a new mount and UTS namespace
// and its own process group (so the whole group can be signalled).
func Command(specPath string, stdout, stderr io.Writer) *exec.Cmd {
	cmd := exec.Command("/proc/self/exe", SubCommand, specPath)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Env = []string{}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true,
		// Go's forkExec makes / recursively private after unsharing the mount namespace.
		Unshareflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS,
	}
	return cmd
}

// Exec reads the spec at specPath, builds the container's view of the filesystem and execs
// its process. It only returns on error.
func Exec(specPath string) error {
	b, err := os.ReadFile(specPath)
	if err != nil {
		return fmt.Errorf("read sandbox spec: %w", err)
	}
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("decode sandbox spec %s: %w", specPath, err)
	}
	if len(s.Argv) == 0 {
		return errors.New("sandbox spec has an empty argv: set command in the pod or Entrypoint/Cmd in the image")
	}
	if err := setup(&s); err != nil {
		return err
	}
	if err := unix.Chroot(s.Rootfs); err != nil {
		return fmt.Errorf("chroot %s: %w", s.Rootfs, err)
	}
	wd := s.WorkingDir
	if wd == "" {
		wd = "/"
	}
	if err := os.Chdir(wd); err != nil {
		return fmt.Errorf("chdir to workingDir %s: %w", wd, err)
	}
	groups := make([]int, len(s.Groups))
	for i, g := range s.Groups {
		groups[i] = int(g)
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups %v: %w", groups, err)
	}
	if err := syscall.Setgid(int(s.GID)); err != nil {
		return fmt.Errorf("setgid %d: %w", s.GID, err)
	}
	if err := syscall.Setuid(int(s.UID)); err != nil {
		return fmt.Errorf("setuid %d: %w", s.UID, err)
	}
	path, err := lookPath(s.Argv[0], s.Env)
	if err != nil {
		return err
	}
	if err := syscall.Exec(path, s.Argv, s.Env); err != nil {
		return fmt.Errorf("exec %s: %w", path, err)
	}
	return nil
}

func setup(s *Spec) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / rprivate: %w", err)
	}
	root := s.Rootfs
	if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind rootfs %s: %w", root, err)
	}
	proc, err := mkTarget(root, "/proc", true)
	if err != nil {
		return err
	}
	if err := unix.Mount("proc", proc, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	if err := mountDev(root); err != nil {
		return err
	}
	etc := map[string]string{"/etc/hosts": s.HostsFile, "/etc/resolv.conf": s.ResolvFile}
	for target, src := range etc {
		if src == "" {
			continue
		}
		if err := bind(root, Mount{Source: src, Target: target, ReadOnly: true}); err != nil {
			return err
		}
	}
	for _, m := range s.Mounts {
		if err := bind(root, m); err != nil {
			return err
		}
	}
	// Runtimes create a missing workingDir; it must exist before the root turns read-only.
	if s.WorkingDir != "" {
		if _, err := mkTarget(root, s.WorkingDir, true); err != nil {
			return err
		}
	}
	if s.ReadOnlyRoot {
		if err := unix.Mount("", root, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("remount rootfs read-only: %w", err)
		}
	}
	if s.Hostname != "" {
		if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
			return fmt.Errorf("sethostname %q: %w", s.Hostname, err)
		}
	}
	return nil
}

// mountDev gives the container a tmpfs /dev holding only harmless host devices.
func mountDev(root string) error {
	dev, err := mkTarget(root, "/dev", true)
	if err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=755,size=65536k"); err != nil {
		return fmt.Errorf("mount /dev: %w", err)
	}
	for _, d := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		t := filepath.Join(dev, d)
		if err := os.WriteFile(t, nil, 0o666); err != nil {
			return fmt.Errorf("create /dev/%s: %w", d, err)
		}
		if err := unix.Mount("/dev/"+d, t, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind /dev/%s: %w", d, err)
		}
	}
	shm := filepath.Join(dev, "shm")
	if err := os.Mkdir(shm, 0o1777); err != nil {
		return fmt.Errorf("create /dev/shm: %w", err)
	}
	if err := unix.Mount("shm", shm, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k"); err != nil {
		return fmt.Errorf("mount /dev/shm: %w", err)
	}
	links := map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"}
	for name, to := range links {
		if err := os.Symlink(to, filepath.Join(dev, name)); err != nil {
			return fmt.Errorf("create /dev/%s: %w", name, err)
		}
	}
	return nil
}

// bind mounts m.Source at m.Target inside root, creating the target as a file or directory
// to match the source.
func bind(root string, m Mount) error {
	fi, err := os.Stat(m.Source)
	if err != nil {
		return fmt.Errorf("mount source for %s: %w", m.Target, err)
	}
	t, err := mkTarget(root, m.Target, fi.IsDir())
	if err != nil {
		return err
	}
	if err := unix.Mount(m.Source, t, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s at %s: %w", m.Source, m.Target, err)
	}
	if m.ReadOnly {
		if err := unix.Mount("", t, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("remount %s read-only: %w", m.Target, err)
		}
	}
	return nil
}

// mkTarget resolves target inside root (symlinks in the image stay inside it) and creates it.
func mkTarget(root, target string, dir bool) (string, error) {
	if !filepath.IsAbs(target) {
		return "", fmt.Errorf("mount path %q must be absolute", target)
	}
	p, err := securejoin.SecureJoin(root, target)
	if err != nil {
		return "", fmt.Errorf("resolve %s in rootfs: %w", target, err)
	}
	if dir {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return "", fmt.Errorf("create mount point %s: %w", target, err)
		}
		return p, nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fmt.Errorf("create mount point %s: %w", target, err)
	}
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			return "", fmt.Errorf("create mount point %s: %w", target, err)
		}
	}
	return p, nil
}

// lookPath finds argv[0] in the container's PATH, as a container runtime does. It runs after
// chroot, so it sees the image's files.
func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, file)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("executable %q not found in the image's PATH %s", file, path)
}
