package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/insightgrid/insight/e2e/nodeagent/image/imagetest"
)

// TestMain lets the test binary play the agent's exec-container role, as Command re-execs
// /proc/self/exe.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == SubCommand {
		err := Exec(os.Args[2])
		fmt.Fprintln(os.Stderr, "exec-container:", err)
		os.Exit(127)
	}
	os.Exit(m.Run())
}

type info struct {
	Env          map[string]string `json:"env"`
	Hostname     string            `json:"hostname"`
	UID, GID     int
	Groups       []int    `json:"groups"`
	Hosts        string   `json:"hosts"`
	Resolv       string   `json:"resolv"`
	WD           string   `json:"wd"`
	RootWritable bool     `json:"rootWritable"`
	Dev          []string `json:"dev"`
}

func TestExec(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("sandbox needs root (mount namespaces, chroot)")
	}
	dir := t.TempDir()
	bin, err := imagetest.BuildBinary("../testdata/testapp", dir, "testapp")
	if err != nil {
		t.Fatal(err)
	}
	app, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	hostsFile := filepath.Join(dir, "hosts")
	resolv := filepath.Join(dir, "resolv.conf")
	vol := filepath.Join(dir, "vol")
	for p, c := range map[string]string{hostsFile: "127.1.0.2 grid-0.grid\n", resolv: ""} {
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(vol, 0o755); err != nil || os.Chmod(vol, 0o777) != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		readOnly bool
		uid      uint32
		argv     []string
		wantCode int
		check    func(t *testing.T, out []byte)
	}{
		{
			name: "info read-only root as uid 1000", readOnly: true, uid: 1000, argv: []string{"app", "info"},
			check: func(t *testing.T, out []byte) {
				var got info
				if err := json.Unmarshal(out, &got); err != nil {
					t.Fatalf("%v: %s", err, out)
				}
				if got.UID != 1000 || got.GID != 2000 || !slices.Equal(got.Groups, []int{2000, 3000}) {
					t.Errorf("ids uid=%d gid=%d groups=%v", got.UID, got.GID, got.Groups)
				}
				if got.RootWritable || got.Hostname != "grid-0" || got.WD != "/work" || got.Env["A"] != "1" {
					t.Errorf("got %+v", got)
				}
				if got.Hosts != "127.1.0.2 grid-0.grid\n" || got.Resolv != "" {
					t.Errorf("hosts %q resolv %q", got.Hosts, got.Resolv)
				}
				for _, d := range []string{"null", "urandom", "shm", "fd"} {
					if !slices.Contains(got.Dev, d) {
						t.Errorf("/dev lacks %s: %v", d, got.Dev)
					}
				}
			},
		},
		{name: "writable volume", readOnly: true, uid: 1000, argv: []string{"app", "touch", "/data/x"}},
		{name: "read-only volume", readOnly: true, argv: []string{"app", "touch", "/config/x"}, wantCode: 1},
		{name: "read-only root", readOnly: true, argv: []string{"app", "touch", "/x"}, wantCode: 1},
		{name: "writable root", argv: []string{"app", "touch", "/x"}},
		{name: "exit code", argv: []string{"/bin/app", "exit", "3"}, wantCode: 3},
		{name: "missing executable", argv: []string{"nothere"}, wantCode: 127},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := filepath.Join(dir, fmt.Sprint("root", i))
			if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, "bin/app"), app, 0o755); err != nil {
				t.Fatal(err)
			}
			spec := &Spec{
				Rootfs: root, ReadOnlyRoot: tt.readOnly, Hostname: "grid-0", HostsFile: hostsFile, ResolvFile: resolv,
				Mounts: []Mount{
					{Source: vol, Target: "/data"},
					{Source: dir, Target: "/config", ReadOnly: true},
				},
				WorkingDir: "/work", UID: tt.uid, GID: 2000, Groups: []uint32{2000, 3000},
				Argv: tt.argv, Env: []string{"PATH=/bin", "A=1"},
			}
			sp := filepath.Join(dir, fmt.Sprint("spec", i, ".json"))
			if err := WriteSpec(sp, spec); err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			cmd := Command(sp, &out, &errOut)
			err := cmd.Run()
			if code := cmd.ProcessState.ExitCode(); code != tt.wantCode {
				t.Fatalf("exit %d (%v), want %d; stderr: %s", code, err, tt.wantCode, errOut.String())
			}
			if tt.check != nil {
				tt.check(t, out.Bytes())
			}
		})
	}
	// Mounts lived only in the children's namespaces.
	if mounts, _ := os.ReadFile("/proc/self/mountinfo"); bytes.Contains(mounts, []byte(dir)) {
		t.Fatalf("sandbox mounts leaked into the host namespace")
	}
}
