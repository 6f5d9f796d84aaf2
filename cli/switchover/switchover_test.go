package switchover

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insightgrid/insight/cli/exit"
	"github.com/insightgrid/insight/cli/internal/depstest"
	"github.com/insightgrid/insight/grid/api"
)

// world is a release in memory and a manager that answers for partitions 0 and 1
// (partition 1's backup is not in sync).
type world struct {
	*depstest.World
	mu    sync.Mutex
	calls []string
}

func newWorld(t *testing.T, ha bool, output string) *world {
	t.Helper()
	w := &world{World: depstest.New(t, "demo", map[string]any{"pu": map[string]any{"partitions": 2, "ha": ha}})}
	m := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		w.calls = append(w.calls, r.Method+" "+r.URL.Path)
		w.mu.Unlock()
		switch r.Method + " " + r.URL.Path {
		case "GET /v1/partitions":
			_, _ = rw.Write([]byte(`{"partitions":[{"id":0},{"id":1}]}`))
		case "POST /v1/partitions/0/failover":
			_, _ = rw.Write([]byte(`{"partition":0,"from":"p0-i0","to":"p0-i1","epoch":4,"pauseMicros":850}`))
		case "POST /v1/partitions/0/failback":
			_, _ = rw.Write([]byte(`{"partition":0,"unchanged":true,"primary":"p0-i0","epoch":3}`))
		default:
			rw.WriteHeader(http.StatusConflict)
			_, _ = rw.Write([]byte(`{"error":{"code":"Conflict","message":"partition 1: backup p1-i1 is not in sync with primary p1-i0"}}`))
		}
	}))
	t.Cleanup(m.Close)
	w.Manager = func(context.Context, string, string) (*api.Client, error) {
		return api.NewClient(m.URL, m.Client()), nil
	}
	w.IO.Output = output
	return w
}

func TestRun(t *testing.T) {
	tests := []struct {
		name      string
		ha        bool
		o         Options
		output    string
		code      int
		out, err  string
		managerOK bool // the manager was asked
	}{
		{name: "failover", ha: true, o: Options{Op: Failover, Partition: "0"}, out: "partition 0: p0-i0 -> p0-i1, epoch 4, write pause 0.85 ms\n", managerOK: true},
		{name: "failover json", ha: true, o: Options{Op: Failover, Partition: "0"}, output: "json", out: `"pauseMicros": 850`, managerOK: true},
		{name: "partition past the release's", ha: true, o: Options{Op: Failover, Partition: "2"}, code: exit.BadInput, err: "release demo has 2 partitions: 0-1"},
		{name: "failover without ha", o: Options{Op: Failover, Partition: "0"}, code: exit.BadInput, err: "runs without pu.ha"},
		{name: "refused", ha: true, o: Options{Op: Failover, Partition: "1"}, code: exit.Failure, err: "failover: partition 1: backup p1-i1 is not in sync", managerOK: true},
		{name: "failback of every partition goes on after a refusal", ha: true, o: Options{Op: Failback}, code: exit.Failure,
			out: "partition 0: p0-i0 is already the primary, epoch 3, unchanged\n", err: "1 of 2 partition(s) not handed back (partition 1)", managerOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, tt.ha, tt.output)
			tt.o.Release, tt.o.Timeout = "demo", time.Minute
			if err := tt.o.Validate(); err != nil {
				t.Fatal(err)
			}
			err := Run(context.Background(), w.Deps, tt.o)
			if got := exit.Code(err); got != tt.code {
				t.Fatalf("exit code %d (%v), want %d", got, err, tt.code)
			}
			if tt.err != "" && !strings.Contains(err.Error(), tt.err) {
				t.Errorf("error %q, want %q", err, tt.err)
			}
			if !strings.Contains(w.Out.String(), tt.out) {
				t.Errorf("printed %q, want %q", w.Out.String(), tt.out)
			}
			if asked := len(w.calls) > 0; asked != tt.managerOK {
				t.Errorf("manager calls %v, want some: %v", w.calls, tt.managerOK)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	err := Options{Op: Failover, Partition: "one", ManagerURL: "ftp://x", Timeout: 0}.Validate()
	if exit.Code(err) != exit.BadInput {
		t.Fatalf("Validate: %v", err)
	}
	for _, want := range []string{"PARTITION: must be a partition number", "--manager-url", "--timeout: must be positive"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, lacks %q", err, want)
		}
	}
}
