package scale

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/insightgrid/insight/cli/exit"
	"github.com/insightgrid/insight/cli/install"
	"github.com/insightgrid/insight/cli/internal/depstest"
	"github.com/insightgrid/insight/grid/api"
)

func TestValidate(t *testing.T) {
	n := func(v int) *int { return &v }
	yes := true
	base := install.Parameters{Name: "demo", Timeout: time.Minute, Wait: true}
	with := func(f func(o *Options)) Options {
		o := Options{Parameters: base}
		f(&o)
		return o
	}
	tests := []struct {
		name string
		o    Options
		want []string // the problems' keys in order; none: valid
	}{
		{"memory", with(func(o *Options) { o.Memory = "1Gi" }), nil},
		{"partitions", with(func(o *Options) { o.Partitions = n(3); o.Rate = "2mb" }), nil},
		{"nothing", with(func(*Options) {}), []string{"--memory"}},
		{"rate alone", with(func(o *Options) { o.Rate = "4mb" }), []string{"--rate"}},
		{"partitions with resources and resource flags", with(func(o *Options) {
			o.Partitions, o.Memory, o.CPU, o.Force, o.Wait = n(20000), "1Gi", "1", true, false
		}), []string{"--partitions", "--memory", "--cpu", "--force", "--wait"}},
		{"bad values", with(func(o *Options) { o.Memory, o.CPU, o.Timeout, o.ManagerURL = "1Gx", "lots", 0, "ftp://m" }),
			[]string{"--memory", "--cpu", "--timeout", "--manager-url"}},
		{"bad rate", with(func(o *Options) { o.Partitions, o.Rate = n(3), "fast" }), []string{"--rate"}},
		{"ha", with(func(o *Options) { o.HA = &yes }), nil},
		{"ha with everything else", with(func(o *Options) {
			o.HA, o.Memory, o.Partitions, o.Force, o.Wait = &yes, "1Gi", n(3), true, false
		}), []string{"--memory", "--partitions", "--force", "--wait"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if exit.Code(err) != exit.BadInput {
				t.Fatalf("Validate: %v, want bad input", err)
			}
			last := 0
			for _, key := range tt.want {
				i := strings.Index(err.Error()[last:], "- "+key+":")
				if i < 0 {
					t.Fatalf("Validate: %v\nlacks %s (in this order: %v)", err, key, tt.want)
				}
				last += i + 1
			}
		})
	}
}

// A grid being re-partitioned to another count is named, with the command that follows
// it, before anything changes.
func TestPartitionsOtherTargetInProgress(t *testing.T) {
	w := depstest.New(t, "demo", map[string]any{"pu": map[string]any{"partitions": 3}})
	var posts int
	m := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			posts++
		}
		_, _ = rw.Write([]byte(`{"partitions":3,"target":4,"state":"moving","slotsRemaining":3000,"moves":[]}`))
	}))
	defer m.Close()
	w.Manager = func(context.Context, string, string) (*api.Client, error) {
		return api.NewClient(m.URL, m.Client()), nil
	}
	two := 2
	o := &Options{Parameters: install.Parameters{Name: "demo", Namespace: "default", Timeout: time.Minute, Wait: true}, Partitions: &two}
	err := Run(context.Background(), w.Deps, o)
	if exit.Code(err) != exit.Failure || !strings.Contains(err.Error(), "re-partitioning to 4 partitions is in progress (moving, 3000 slots left)") ||
		!strings.Contains(err.Error(), "insightctl scale demo -n default --partitions 4") {
		t.Fatalf("Run: %v", err)
	}
	if posts != 0 {
		t.Errorf("%d requests to re-partition, want none", posts)
	}
}
