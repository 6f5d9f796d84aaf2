package hosts

import (
	"flag"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestRender(t *testing.T) {
	tests := []struct {
		name     string
		pods     []Pod
		services []Service
	}{
		{name: "empty"},
		{
			name: "statefulset",
			pods: []Pod{
				{Namespace: "grid", Hostname: "grid-1", Subdomain: "grid-headless", IP: "127.1.1.2"},
				{Namespace: "grid", Hostname: "grid-0", Subdomain: "grid-headless", IP: "127.1.0.2"},
				{Namespace: "grid", Hostname: "lonely", IP: "127.1.2.9"},
				{Namespace: "grid", Hostname: "pending", Subdomain: "grid-headless"},
			},
			services: []Service{
				{Namespace: "grid", Name: "grid", IPs: []string{"127.1.1.2", "127.1.0.2", "127.1.0.2"}},
				{Namespace: "default", Name: "kubernetes", IPs: []string{"127.0.0.1"}},
				{Namespace: "grid", Name: "empty"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Render(tt.pods, tt.services)
			golden := filepath.Join("testdata", tt.name+".hosts")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestWriteInPlaceKeepsInode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hosts")
	if _, err := WriteInPlace(p, []byte("a long first version\n")); err != nil {
		t.Fatal(err)
	}
	ino := func() uint64 {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	before := ino()
	changed, err := WriteInPlace(p, []byte("short\n"))
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	if changed, _ := WriteInPlace(p, []byte("short\n")); changed {
		t.Fatal("unchanged content rewritten")
	}
	if b, _ := os.ReadFile(p); string(b) != "short\n" || ino() != before {
		t.Fatalf("content %q inode %d->%d", b, before, ino())
	}
}
