package manager

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/backup"
	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/persist"
	"github.com/insightgrid/insight/grid/rdb"
	"github.com/insightgrid/insight/grid/store"
)

// servingRepl is a serving primary's replication that acknowledges every write.
type servingRepl struct{}

func (servingRepl) Status() cluster.InstanceStatus {
	return cluster.InstanceStatus{Role: cluster.RolePrimary, Serving: true}
}
func (servingRepl) Admit() (string, string)  { return "", "" }
func (servingRepl) Barrier(bool, int) uint64 { return 1 }
func (servingRepl) Wait(uint64) bool         { return true }

// libraryHolder is a data instance's function libraries.
type libraryHolder struct {
	mu    sync.Mutex
	codes []string
}

func (h *libraryHolder) LibraryNames() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var names []string
	for _, code := range h.codes {
		name, _ := backup.LibraryName(code)
		names = append(names, name)
	}
	return names
}

func (h *libraryHolder) RestoreLibraries(codes []string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.codes) > 0 {
		return fmt.Errorf("holds %d libraries", len(h.codes))
	}
	h.codes = slices.Clone(codes)
	return nil
}

func (h *libraryHolder) loaded() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.codes)
}

// TestRestoreLibraries: POST /v1/restore/libraries answers the function libraries of a
// snapshot's head, with their names; a head that is not a snapshot's is refused.
func TestRestoreLibraries(t *testing.T) {
	tm := newTestManager(t, 1, false)
	code := "#!lua name=lib1\nredis.register_function('f', function() return 1 end)\n"
	s := store.New(1 << 20)
	s.SetFunctions(rdb.EncodeFunctions([]string{code}))
	if _, err := s.Set(nil, []byte("k"), []byte("v"), store.SetOptions{}); err != nil {
		t.Fatal(err)
	}
	var snap bytes.Buffer
	if _, err := persist.WriteSnapshot(context.Background(), &snap, s, 1, 1); err != nil {
		t.Fatal(err)
	}
	head, err := api.SnapshotHead(&snap)
	if err != nil {
		t.Fatal(err)
	}
	st, doc := tm.postJSON(t, api.PathRestoreLibraries, string(head))
	libs, _ := doc["libraries"].([]any)
	if st != http.StatusOK || len(libs) != 1 || libs[0].(map[string]any)["name"] != "lib1" || libs[0].(map[string]any)["code"] != code {
		t.Fatalf("libraries of a head: %d %v, want lib1 and its code", st, doc)
	}
	if st, doc := tm.postJSON(t, api.PathRestoreLibraries, "INSGSNP1 not records"); st != http.StatusBadRequest || !strings.Contains(errMessage(doc), "not a snapshot's") {
		t.Fatalf("a head that is not a snapshot's: %d %q, want 400", st, errMessage(doc))
	}
}

// TestRestoreFunctions: POST /v1/restore/functions loads the libraries on every primary;
// a body that is not libraries, or names one twice, is refused; a grid where one primary
// holds a library is refused naming it, with nothing loaded on any other primary.
func TestRestoreFunctions(t *testing.T) {
	tm := newTestManager(t, 2, false)
	holders := []*libraryHolder{{}, {}}
	for p, h := range holders {
		mux := http.NewServeMux()
		(&backup.Instance{Partition: p, Repl: servingRepl{}, Functions: h}).Register(mux)
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		tm.register(t, p, 0, "run-1", strings.TrimPrefix(srv.URL, "http://"))
	}
	lib := func(name string) string {
		return "#!lua name=" + name + "\nredis.register_function('" + name + "_f', function() return 1 end)\n"
	}
	body := func(codes ...string) string {
		b, err := json.Marshal(map[string][]string{"libraries": codes})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, bad := range []struct{ body, want string }{
		{"nope", "the body is not {\"libraries\": [code, ...]}"},
		{body("return 1"), "does not start with \"#!lua name=<library>\""},
		{body(lib("a"), lib("a")), `library "a" is given twice`},
	} {
		if code, doc := tm.postJSON(t, "/v1/restore/functions", bad.body); code != http.StatusBadRequest || !strings.Contains(errMessage(doc), bad.want) {
			t.Errorf("POST %.40s: %d %q, want 400 %q", bad.body, code, errMessage(doc), bad.want)
		}
	}

	holders[1].codes = []string{lib("mine")}
	code, doc := tm.postJSON(t, "/v1/restore/functions", body(lib("a"), lib("b")))
	if code != http.StatusConflict || !strings.Contains(errMessage(doc), "partition 1's primary holds function libraries (mine)") {
		t.Fatalf("into a grid holding a library: %d %q, want 409 naming partition 1 and mine", code, errMessage(doc))
	}
	if got := holders[0].loaded(); got != nil {
		t.Fatalf("partition 0 loaded %q although partition 1 refused; want nothing loaded anywhere", got)
	}

	holders[1].codes = nil
	code, doc = tm.postJSON(t, "/v1/restore/functions", body(lib("a"), lib("b")))
	if code != http.StatusOK || doc["libraries"] != 2.0 || doc["primaries"] != 2.0 {
		t.Fatalf("into an empty grid: %d %v, want 200 with 2 libraries on 2 primaries", code, doc)
	}
	for p, h := range holders {
		if got := h.loaded(); !slices.Equal(got, []string{lib("a"), lib("b")}) {
			t.Fatalf("partition %d holds %q, want a and b", p, got)
		}
	}
}
