package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunRejectsBadInput checks that bad flags and environment values fail before any
// listener starts, with a message naming the flag or variable.
func TestRunRejectsBadInput(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		code    int
		wantErr string
	}{
		{"no role", nil, nil, 2, "Usage:"},
		{"unknown role", []string{"gateway"}, nil, 2, `unknown role "gateway": want manager, data, local, check or version`},
		{"bad int flag", []string{"data", "--partition", "x"}, nil, 1, `invalid value "x" for flag -partition`},
		{"bad env", []string{"data"}, map[string]string{"INSIGHT_INSTANCE": "one"}, 1, `invalid value "one" for INSIGHT_INSTANCE (flag --instance)`},
		{"validation", []string{"data", "--etcd-endpoints", "m-0:2379", "--instance", "3"}, nil, 1, "--instance 3: must be 0 (preferred primary) or 1 (backup)"},
		{"node name from env", []string{"data", "--etcd-endpoints", "m-0:2379"}, map[string]string{"INSIGHT_NODE_NAME": "node one"}, 1, `--node-name "node one": must not hold spaces or control characters`},
		{"zone flag", []string{"data", "--etcd-endpoints", "m-0:2379", "--zone", strings.Repeat("z", 64)}, nil, 1, "--zone \"" + strings.Repeat("z", 64) + "\": 64 characters: must be at most 63"},
		{"bad size", []string{"data", "--maxmemory", "lots"}, nil, 1, `invalid value "lots" for flag -maxmemory: size "lots"`},
		{"bad maxmemory-policy", []string{"data", "--maxmemory-policy", "lru"}, nil, 1, `invalid value "lru" for flag -maxmemory-policy: must be one of volatile-lru, volatile-lfu`},
		{"bad notify-keyspace-events", []string{"data", "--notify-keyspace-events", "KEQ"}, nil, 1, `invalid value "KEQ" for flag -notify-keyspace-events: notify-keyspace-events "KEQ": Invalid event class character. Use 'Ag$lshzxeKEtmdn'.`},
		{"bad appendfsync", []string{"data", "--appendfsync", "sometimes"}, nil, 1, `invalid value "sometimes" for flag -appendfsync: "sometimes": must be always, everysec or no`},
		{"bad appendfsync env", []string{"data"}, map[string]string{"INSIGHT_APPENDFSYNC": "often"}, 1, `invalid value "often" for INSIGHT_APPENDFSYNC (flag --appendfsync)`},
		{"bad rewrite size", []string{"data", "--auto-aof-rewrite-min-size", "big"}, nil, 1, `invalid value "big" for flag -auto-aof-rewrite-min-size`},
		{"local appendfsync", []string{"local", "--data-dir", "/tmp/x", "--appendfsync", "often"}, nil, 1, `--appendfsync "often": must be always, everysec or no`},
		{"log format", []string{"manager", "--log-format", "xml"}, nil, 1, `--log-format "xml": want json or text`},
		{"local bind", []string{"local", "--bind", "10.0.0.1"}, nil, 1, `--bind "10.0.0.1": the local grid listens on loopback only`},
		{"wan site with a data dir", []string{"data", "--etcd-endpoints", "m-0:2379", "--wan-site", "london", "--wan-targets", "paris", "--data-dir", "/tmp/x"}, nil, 1, "--wan-site with --data-dir: WAN replication keeps its metadata in memory only"},
		{"wan outbox mode", []string{"data", "--etcd-endpoints", "m-0:2379", "--wan-site", "london", "--wan-outbox-full", "drop"}, nil, 1, `--wan-outbox-full "drop": want block or mark-out-of-sync`},
		{"wan site name", []string{"data", "--etcd-endpoints", "m-0:2379", "--wan-site", "London"}, nil, 1, `--wan-site "London": a site name is 1 to 32 characters of a-z, 0-9 and '-'`},
		{"wan targets without a site", []string{"data", "--etcd-endpoints", "m-0:2379", "--wan-targets", "paris"}, nil, 1, `--wan-site "": a site name`},
		{"local wan target form", []string{"local", "--site", "a", "--wan-target", "b"}, nil, 1, `--wan-target "b": want NAME=HOST:PORT`},
		{"local wan ca of no target", []string{"local", "--site", "a", "--wan-target", "b=127.0.0.1:1", "--wan-target-ca", "c=/ca.crt"}, nil, 1, "--wan-target-ca c: no --wan-target c=HOST:PORT names that site"},
		{"local wan target without trust", []string{"local", "--site", "a", "--wan-target", "b=127.0.0.1:1"}, nil, 1, "--wan-target b: give --wan-target-ca b=FILE and --wan-target-token-file b=FILE"},
		{"local wan target without a site", []string{"local", "--wan-target", "b=127.0.0.1:1"}, nil, 1, "--wan-target given without --site"},
		{"local wan bind not an address", []string{"local", "--site", "a", "--wan-bind", "gw.example"}, nil, 1, `--wan-bind "gw.example": want an IP address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr, func(k string) string { return tt.env[k] })
			if code != tt.code || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr.String(), tt.code, tt.wantErr)
			}
		})
	}
	var stdout bytes.Buffer
	if code := run([]string{"version"}, &stdout, &bytes.Buffer{}, func(string) string { return "" }); code != 0 || strings.TrimSpace(stdout.String()) != "dev" {
		t.Fatalf("version: exit %d, %q", code, stdout.String())
	}
}

// TestFindSQL checks where local --sql looks for insight-sql: next to insight-grid, then
// on PATH, and the error naming both when neither has it.
func TestFindSQL(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	t.Setenv("PATH", other)
	exe := filepath.Join(dir, "insight-grid")
	if _, err := findSQL(exe); err == nil || !strings.Contains(err.Error(), "--sql: insight-sql is neither next to "+exe+" nor on PATH") {
		t.Fatalf("no insight-sql: %v", err)
	}
	onPath := filepath.Join(other, "insight-sql")
	if err := os.WriteFile(onPath, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := findSQL(exe); err != nil || got != onPath {
		t.Fatalf("on PATH: %q, %v", got, err)
	}
	next := filepath.Join(dir, "insight-sql")
	if err := os.WriteFile(next, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := findSQL(exe); err != nil || got != next {
		t.Fatalf("next to insight-grid: %q, %v", got, err)
	}
}
