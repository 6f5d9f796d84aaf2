package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeManager answers the manager API's partition operations from canned replies.
type fakeManager struct {
	*httptest.Server
	mu    sync.Mutex
	calls []string
}

func newFakeManager(t *testing.T) *fakeManager {
	f := &fakeManager{}
	reply := func(w http.ResponseWriter, status int, body string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
	conflict := `{"error":{"code":"Conflict","message":"partition 1: backup p1-i1 is not in sync with primary p1-i0: wait until it has caught up"}}`
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls = append(f.calls, r.Method+" "+r.URL.RequestURI())
		f.mu.Unlock()
		switch r.Method + " " + r.URL.RequestURI() {
		case "GET /v1/partitions":
			reply(w, 200, `{"partitions":[{"id":0},{"id":1},{"id":2}]}`)
		case "POST /v1/partitions/0/failover":
			reply(w, 200, `{"partition":0,"from":"p0-i0","to":"p0-i1","epoch":4,"pauseMicros":850}`)
		case "POST /v1/partitions/0/failback":
			reply(w, 200, `{"partition":0,"from":"p0-i1","to":"p0-i0","epoch":5,"pauseMicros":1234}`)
		case "POST /v1/partitions/1/failover", "POST /v1/partitions/1/failback":
			reply(w, 409, conflict)
		case "POST /v1/partitions/2/failback":
			reply(w, 200, `{"partition":2,"unchanged":true,"primary":"p2-i0","epoch":1}`)
		case "POST /v1/partitions/1/reset?confirm=1&primary=p1-i1":
			reply(w, 200, `{"partition":1,"epoch":3,"primary":"p1-i1","backup":"p1-i0","previous":{"epoch":2,"primary":"p1-i0","inSync":false,"preferredPrimary":"p1-i0"}}`)
		case "POST /v1/partitions/2/reset?confirm=2":
			reply(w, 200, `{"partition":2,"epoch":3,"primary":"p2-i0","backup":"p2-i1","previous":{"epoch":2,"primary":"p2-i0","inSync":false,"preferredPrimary":"p2-i0"},"warning":"p2-i0 is down and p2-i1 is alive: ..."}`)
		case "POST /v1/partitions/0/reset?confirm=0":
			reply(w, 200, `{"partition":0,"epoch":7,"primary":"p0-i0","backup":"p0-i1","previous":{"epoch":6,"primary":"p0-i1","inSync":false,"preferredPrimary":"p0-i0"}}`)
		case "POST /v1/partitions/9/failover":
			reply(w, 404, `{"error":{"code":"NotFound","message":"partition 9 not found: the grid has 3 partitions (0-2)"}}`)
		case "POST /v1/partitions/3/failover":
			reply(w, 502, "<html>bad gateway</html>")
		default:
			reply(w, 404, `{"error":{"code":"NotFound","message":"no such endpoint"}}`)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeManager) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func TestAdminCommands(t *testing.T) {
	f := newFakeManager(t)
	host := strings.TrimPrefix(f.URL, "http://")
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		code       int
		stdout     string // substring; "" checks that stdout is empty
		stderr     string
		wantCalled []string
	}{
		{"failover", []string{"failover", "--manager", f.URL, "--partition", "0"}, nil, 0,
			"partition 0: p0-i0 -> p0-i1, epoch 4, write pause 0.85 ms\n", "", []string{"POST /v1/partitions/0/failover"}},
		{"failover host:port and env", []string{"failover", "--partition", "0"}, map[string]string{"INSIGHT_MANAGER": host + "/"}, 0,
			"partition 0: p0-i0 -> p0-i1", "", nil},
		{"failover conflict", []string{"failover", "--manager", f.URL, "--partition", "1"}, nil, 1,
			"", "insight-grid failover: partition 1: backup p1-i1 is not in sync with primary p1-i0: wait until it has caught up (HTTP 409 Conflict)", nil},
		{"failover unknown", []string{"failover", "--manager", f.URL, "--partition", "9"}, nil, 1,
			"", "partition 9 not found: the grid has 3 partitions (0-2) (HTTP 404 NotFound)", nil},
		{"failover not json", []string{"failover", "--manager", f.URL, "--partition", "3"}, nil, 1,
			"", "partition 3: manager unreachable via " + f.URL + ": HTTP 502: <html>bad gateway</html>", nil},
		{"failover json", []string{"failover", "--manager", f.URL, "--partition", "0", "-o", "json"}, nil, 0,
			"\"pauseMicros\": 850", "", nil},
		{"failover json error", []string{"failover", "--manager", f.URL, "--partition", "1", "--output", "json"}, nil, 1,
			"\"code\": \"Conflict\"", "(HTTP 409 Conflict)", nil},
		{"failback one", []string{"failback", "--manager", f.URL, "--partition", "2"}, nil, 0,
			"partition 2: p2-i0 is already the primary, epoch 1, unchanged\n", "", []string{"POST /v1/partitions/2/failback"}},
		{"failback all", []string{"failback", "--manager", f.URL}, nil, 1,
			"partition 0: p0-i1 -> p0-i0, epoch 5, write pause 1.23 ms\npartition 2: p2-i0 is already the primary, epoch 1, unchanged\n",
			"insight-grid failback: partition 1: backup p1-i1 is not in sync",
			[]string{"GET /v1/partitions", "POST /v1/partitions/0/failback", "POST /v1/partitions/1/failback", "POST /v1/partitions/2/failback"}},
		{"failback all json", []string{"failback", "--manager", f.URL, "-o", "json"}, nil, 1,
			"\"partition\": 1", "", nil},
		{"reset", []string{"reset", "--manager", f.URL, "--partition", "0", "--yes"}, nil, 0,
			"partition 0: reset, epoch 7, primary p0-i0, backup p0-i1 (catching up); writes only the lost copies held are gone\n", "",
			[]string{"POST /v1/partitions/0/reset?confirm=0"}},
		{"reset to a surviving copy", []string{"reset", "--manager", f.URL, "--partition", "1", "--yes", "--primary", "p1-i1"}, nil, 0,
			"partition 1: reset, epoch 3, primary p1-i1, backup p1-i0 (catching up)", "", []string{"POST /v1/partitions/1/reset?confirm=1&primary=p1-i1"}},
		{"reset warning", []string{"reset", "--manager", f.URL, "--partition", "2", "--yes"}, nil, 0,
			"\nwarning: p2-i0 is down and p2-i1 is alive", "", nil},
		{"bad primary", []string{"reset", "--manager", f.URL, "--partition", "1", "--yes", "--primary", "node-1"}, nil, 2,
			"", `--primary "node-1": want an instance name such as p0-i1`, []string{}},
		{"primary on failover", []string{"failover", "--manager", f.URL, "--partition", "0", "--primary", "p0-i1"}, nil, 2,
			"", "flag provided but not defined: -primary", []string{}},
		{"failback ignores INSIGHT_PARTITION", []string{"failback", "--manager", f.URL}, map[string]string{"INSIGHT_PARTITION": "0"}, 1,
			"partition 2:", "", nil},
		{"unreachable", []string{"failover", "--manager", "http://127.0.0.1:1", "--partition", "0"}, nil, 1,
			"", "insight-grid failover: partition 0: manager unreachable via http://127.0.0.1:1:", nil},

		// Bad input: exit 2, nothing called.
		{"reset without --yes", []string{"reset", "--manager", f.URL, "--partition", "0"}, nil, 2,
			"", "--yes is required: reset makes the partition's preferred primary serve again", []string{}},
		{"reset without partition", []string{"reset", "--manager", f.URL, "--yes"}, nil, 2,
			"", "--partition is required: the partition to reset", []string{}},
		{"no manager", []string{"failover", "--partition", "0"}, nil, 2, "", "--manager is required", []string{}},
		{"bad manager", []string{"failover", "--manager", "ftp://x", "--partition", "0"}, nil, 2,
			"", `--manager "ftp://x": want the manager's REST API URL, http://host:port`, []string{}},
		{"bad partition", []string{"failover", "--manager", f.URL, "--partition", "-2"}, nil, 2,
			"", `invalid value "-2" for flag -partition: want a partition number, 0 or more`, []string{}},
		{"bad output", []string{"failback", "--manager", f.URL, "-o", "yaml"}, nil, 2,
			"", `invalid value "yaml" for flag -o: want text or json`, []string{}},
		{"yes on failover", []string{"failover", "--manager", f.URL, "--partition", "0", "--yes"}, nil, 2,
			"", "flag provided but not defined: -yes", []string{}},
		{"bad timeout", []string{"failover", "--manager", f.URL, "--partition", "0", "--timeout", "0s"}, nil, 2,
			"", "--timeout 0s: must be more than 0", []string{}},
		{"argument", []string{"failover", "--manager", f.URL, "0"}, nil, 2,
			"", `unexpected argument "0"`, []string{}},
		{"help", []string{"failover", "-h"}, nil, 0, "", "insight-grid reset --manager URL --partition N --yes", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.called())
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr, func(k string) string { return tt.env[k] })
			if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) ||
				(tt.stdout == "" && stdout.Len() > 0) || !strings.Contains(stdout.String(), tt.stdout) {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String(), tt.code, tt.stdout, tt.stderr)
			}
			if tt.wantCalled != nil {
				got := f.called()[before:]
				if strings.Join(got, ",") != strings.Join(tt.wantCalled, ",") {
					t.Fatalf("called %q, want %q", got, tt.wantCalled)
				}
			}
			if strings.Contains(strings.Join(tt.args, " "), "json") && code == 0 {
				var v any
				if err := json.Unmarshal(stdout.Bytes(), &v); err != nil || strings.HasSuffix(stdout.String(), "\n\n") {
					t.Fatalf("-o json printed invalid JSON or a blank line: %v\n%q", err, stdout.String())
				}
			}
		})
	}
}

func TestAdminFailbackAllJSON(t *testing.T) {
	f := newFakeManager(t)
	var stdout, stderr bytes.Buffer
	code := runAdmin(context.Background(), "failback", []string{"--manager", f.URL, "-o", "json"}, &stdout, &stderr, func(string) string { return "" })
	var doc struct {
		Partitions []map[string]any `json:"partitions"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil || code != 1 || len(doc.Partitions) != 3 {
		t.Fatalf("exit %d, err %v, stdout:\n%s", code, err, stdout.String())
	}
	if doc.Partitions[1]["partition"] != 1.0 || doc.Partitions[1]["error"] == nil || doc.Partitions[2]["unchanged"] != true {
		t.Fatalf("partitions %v", doc.Partitions)
	}
}
