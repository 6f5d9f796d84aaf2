package agent

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestChownGroupLikeKubelet(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing a file's group to an arbitrary fsGroup needs root")
	}
	const gid = 65532
	for _, tc := range []struct {
		name     string
		readOnly bool
		wantFile os.FileMode
		wantDir  os.FileMode
	}{
		{"secret volume gets group read", true, 0o440, 0o750 | os.ModeSetgid},
		{"emptyDir gets group read and write", false, 0o460, 0o770 | os.ModeSetgid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "vol")
			if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o700); err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(dir, "sub", "token")
			if err := os.WriteFile(f, []byte("x"), 0o400); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(f, 0o400); err != nil {
				t.Fatal(err)
			}
			if err := chownGroup(dir, gid, tc.readOnly); err != nil {
				t.Fatal(err)
			}
			for p, want := range map[string]os.FileMode{f: tc.wantFile, filepath.Join(dir, "sub"): tc.wantDir} {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if got := fi.Mode() & (os.ModePerm | os.ModeSetgid); got != want {
					t.Errorf("%s: mode %v, want %v", p, got, want)
				}
				if g := fi.Sys().(*syscall.Stat_t).Gid; g != gid {
					t.Errorf("%s: group %d, want %d", p, g, gid)
				}
			}
		})
	}
}
