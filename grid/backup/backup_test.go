package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/persist"
	"github.com/insightgrid/insight/grid/rdb"
	"github.com/insightgrid/insight/grid/slots"
	"github.com/insightgrid/insight/grid/store"
)

// fakeRepl is a partition's replication as the handlers see it.
type fakeRepl struct {
	role  string
	waits atomic.Int64
}

func (f *fakeRepl) Status() cluster.InstanceStatus {
	return cluster.InstanceStatus{Role: f.role, Serving: f.role == cluster.RolePrimary, Epoch: 4, Offset: 17}
}
func (f *fakeRepl) Admit() (string, string)  { return "", "" }
func (f *fakeRepl) Barrier(bool, int) uint64 { return 1 }
func (f *fakeRepl) Wait(uint64) bool         { f.waits.Add(1); return true }
func (f *fakeRepl) primary() *fakeRepl       { f.role = cluster.RolePrimary; return f }
func newRepl() *fakeRepl                     { return (&fakeRepl{}).primary() }
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
func bs(ss ...string) (out [][]byte) {
	for _, s := range ss {
		out = append(out, []byte(s))
	}
	return out
}
func serve(t *testing.T, in *Instance) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	in.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// viewOf is partition self's view of a grid with map m.
func viewOf(t *testing.T, m *cluster.PartitionMap, self int) func() *cluster.View {
	t.Helper()
	st := &cluster.State{Map: m, Records: map[int]cluster.Record{}, Instances: map[string]cluster.Instance{}}
	for p := range m.Partitions {
		id := cluster.InstanceID(p, 0)
		st.Records[p] = cluster.InitialRecord(p, false)
		st.Instances[id] = cluster.Instance{ID: id, Partition: p, Address: fmt.Sprintf("127.0.0.1:%d", 7000+p)}
	}
	v, err := cluster.BuildView(st, cluster.InstanceID(self, 0))
	must(t, err)
	return func() *cluster.View { return v }
}

// filled is a store with n keys of several types, some expiring, and function libraries.
func filled(t *testing.T, n int) *store.Store {
	t.Helper()
	s := store.New(1 << 29)
	at := time.Now().Add(time.Hour).UnixMilli()
	for i := range n {
		_, err := s.Set(nil, fmt.Appendf(nil, "str:%d", i), fmt.Appendf(nil, "v%d", i), store.SetOptions{})
		must(t, err)
		_, err = s.Set(nil, fmt.Appendf(nil, "ttl:%d", i), []byte("x"), store.SetOptions{At: at + int64(i)})
		must(t, err)
		_, err = s.HSet(fmt.Appendf(nil, "hash:%d", i), bs("a", "1", "b", strconv.Itoa(i)))
		must(t, err)
		_, err = s.SAdd(fmt.Appendf(nil, "set:%d", i), bs("x", "y"))
		must(t, err)
	}
	s.SetFunctions(rdb.EncodeFunctions([]string{libCode("lib", "1")}))
	return s
}

// keyOps is every key's operation in s, sorted (the function libraries left out).
func keyOps(s *store.Store) []string {
	var out []string
	for slot := range slots.Count {
		s.DumpSlot(slot, func(op []byte) {
			if _, ok, _ := store.OpKey(op); ok {
				out = append(out, string(op))
			}
		})
	}
	slices.Sort(out)
	return out
}

func post(t *testing.T, url string, body []byte) *http.Response {
	t.Helper()
	resp, err := http.Post(url, "application/octet-stream", bytes.NewReader(body))
	must(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestSnapshotAndRestoreBySlot: a primary's snapshot carries its position in headers and
// its key count in trailers; restored through a Router into a map of 3 partitions, every
// key lands in the partition owning its slot, each batch waited for as a write, and the
// union is the source's keys.
func TestSnapshotAndRestoreBySlot(t *testing.T) {
	src := filled(t, 300)
	one, err := cluster.NewPartitionMap(1, false)
	must(t, err)
	srcSrv := serve(t, &Instance{Partition: 0, Store: src, Repl: newRepl(), View: viewOf(t, one, 0)})
	resp := post(t, srcSrv.URL+PathSnapshot, nil)
	snap, err := io.ReadAll(resp.Body)
	must(t, err)
	if resp.StatusCode != 200 || resp.Header.Get(api.HeaderEpoch) != "4" || resp.Header.Get(api.HeaderSeq) != "17" ||
		resp.Trailer.Get(api.TrailerKeys) != "1201" || resp.Trailer.Get(api.TrailerSeqEnd) != "17" {
		t.Fatalf("snapshot: %d, headers %v, trailers %v; want 200, epoch 4, seq 17, 1201 keys (with the function libraries), seq-end 17", resp.StatusCode, resp.Header, resp.Trailer)
	}

	three, err := cluster.NewPartitionMap(3, false)
	must(t, err)
	targets := make([]*store.Store, 3)
	repls := make([]*fakeRepl, 3)
	urls := make([]string, 3)
	for p := range 3 {
		targets[p], repls[p] = store.New(1<<29), newRepl()
		urls[p] = serve(t, &Instance{Partition: p, Store: targets[p], Repl: repls[p], View: viewOf(t, three, p)}).URL
	}
	rt := Router{Owners: three.Owners(), BatchBytes: 4 << 10, Send: func(ctx context.Context, p int, batch []byte) (uint64, error) {
		resp := post(t, urls[p]+PathRestore, batch)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
		}
		var a RestoreAnswer
		err := json.Unmarshal(b, &a)
		return a.Keys, err
	}}
	res, err := rt.Restore(context.Background(), bytes.NewReader(snap))
	must(t, err)
	if res.Keys != 1200 || len(res.ByPartition) != 3 {
		t.Fatalf("restore: %+v; want 1200 keys over 3 partitions", res)
	}
	for p, s := range targets {
		if s.Functions() != nil {
			t.Fatalf("partition %d got function libraries from the restore of keys; they are every primary's, loaded by %s", p, PathFunctions)
		}
	}
	owners := three.Owners()
	var union []string
	for p, s := range targets {
		ops := keyOps(s)
		if uint64(len(ops)) != res.ByPartition[p] || repls[p].waits.Load() == 0 {
			t.Fatalf("partition %d holds %d keys, the restore counted %d, %d waits", p, len(ops), res.ByPartition[p], repls[p].waits.Load())
		}
		for slot := range slots.Count {
			if owners[slot] != p {
				s.DumpSlot(slot, func(op []byte) { t.Fatalf("partition %d holds a key of slot %d, not its own", p, slot) })
			}
		}
		union = append(union, ops...)
	}
	slices.Sort(union)
	if want := keyOps(src); !slices.Equal(union, want) {
		t.Fatalf("restored %d keys, want %d, or they differ", len(union), len(want))
	}
}

// TestInstanceRefuses: a backup instance gives no snapshot and takes no restore; a batch
// of keys whose slots are another partition's, or a damaged batch, is refused.
func TestInstanceRefuses(t *testing.T) {
	two, err := cluster.NewPartitionMap(2, false)
	must(t, err)
	var snap bytes.Buffer
	_, err = persist.WriteSnapshot(context.Background(), &snap, filled(t, 50), 1, 1)
	must(t, err)
	backup := &fakeRepl{role: cluster.RoleBackup}
	srv := serve(t, &Instance{Partition: 1, Store: store.New(1 << 20), Repl: backup, View: viewOf(t, two, 1)})
	for _, path := range []string{PathSnapshot, PathRestore} {
		if resp := post(t, srv.URL+path, snap.Bytes()); resp.StatusCode != http.StatusConflict {
			t.Fatalf("%s on a backup: HTTP %d, want 409", path, resp.StatusCode)
		}
	}
	backup.primary()
	resp := post(t, srv.URL+PathRestore, snap.Bytes())
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(b), "is not partition 1's now") {
		t.Fatalf("keys of partition 0's slots: HTTP %d %s, want 409 naming the slot", resp.StatusCode, b)
	}
	one, err := cluster.NewPartitionMap(1, false)
	must(t, err)
	whole := serve(t, &Instance{Partition: 0, Store: store.New(1 << 29), Repl: newRepl(), View: viewOf(t, one, 0)})
	resp = post(t, whole.URL+PathRestore, snap.Bytes()[:snap.Len()-5])
	b, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a cut batch: HTTP %d %s, want 400", resp.StatusCode, b)
	}
}

// libCode is the code of a library named name whose function name_f returns ret.
func libCode(name, ret string) string {
	return "#!lua name=" + name + "\nredis.register_function('" + name + "_f', function() return '" + ret + "' end)\n"
}

// fakeFunctions is a server's function libraries as the handler sees them.
type fakeFunctions struct{ loaded []string }

func (f *fakeFunctions) LibraryNames() []string {
	var names []string
	for _, code := range f.loaded {
		name, _ := LibraryName(code)
		names = append(names, name)
	}
	return names
}

func (f *fakeFunctions) RestoreLibraries(codes []string) error {
	if len(f.loaded) > 0 {
		return fmt.Errorf("holds %v", f.LibraryNames())
	}
	f.loaded = slices.Clone(codes)
	return nil
}

// TestHeadLibrariesAndLibraryName: a snapshot's function libraries read back, from the
// whole snapshot or its head, as the codes the instance held; a snapshot without any
// gives none; a library's name is its
// first line's; a damaged record of libraries is an error.
func TestHeadLibrariesAndLibraryName(t *testing.T) {
	var snap bytes.Buffer
	_, err := persist.WriteSnapshot(context.Background(), &snap, filled(t, 5), 1, 1)
	must(t, err)
	head, err := api.SnapshotHead(bytes.NewReader(snap.Bytes()))
	must(t, err)
	for what, b := range map[string][]byte{"snapshot": snap.Bytes(), "head": head} {
		codes, err := HeadLibraries(bytes.NewReader(b))
		must(t, err)
		if want := []string{libCode("lib", "1")}; !slices.Equal(codes, want) {
			t.Fatalf("libraries of the %s: %q, want %q", what, codes, want)
		}
	}
	if _, err := HeadLibraries(bytes.NewReader(head[:len(head)-3])); err == nil {
		t.Fatal("a head cut short: no error")
	}
	snap.Reset()
	_, err = persist.WriteSnapshot(context.Background(), &snap, store.New(1<<20), 1, 1)
	must(t, err)
	if codes, err := HeadLibraries(&snap); err != nil || codes != nil {
		t.Fatalf("an empty snapshot: %q, %v; want no libraries", codes, err)
	}
	bad := store.New(1 << 20)
	bad.SetFunctions([]byte("not a dump payload"))
	snap.Reset()
	_, err = persist.WriteSnapshot(context.Background(), &snap, bad, 1, 1)
	must(t, err)
	if _, err := HeadLibraries(&snap); err == nil || !strings.Contains(err.Error(), "do not decode") {
		t.Fatalf("undecodable libraries: %v; want an error saying they do not decode", err)
	}
	for code, want := range map[string]string{
		"#!lua name=mylib\nreturn 1": "mylib",
		"#!lua  name=x  \n":          "x",
	} {
		if got, err := LibraryName(code); err != nil || got != want {
			t.Fatalf("LibraryName(%q) = %q, %v; want %q", code, got, err, want)
		}
	}
	for _, code := range []string{"", "return 1", "#!lua\n", "#!lua name=\n", "#!python name=x\n"} {
		if name, err := LibraryName(code); err == nil {
			t.Fatalf("LibraryName(%q) = %q; want an error", code, name)
		}
	}
}

// TestInstanceFunctions: a primary holding no library checks clean and loads a restore's
// libraries, answering once its backup has them; one holding a library refuses, naming
// it; a backup refuses; a body that is not a request is refused.
func TestInstanceFunctions(t *testing.T) {
	one, err := cluster.NewPartitionMap(1, false)
	must(t, err)
	fns, repl := &fakeFunctions{}, newRepl()
	srv := serve(t, &Instance{Partition: 0, Store: store.New(1 << 20), Repl: repl, View: viewOf(t, one, 0), Functions: fns})
	req := func(r FunctionsRequest) (int, string) {
		b, err := json.Marshal(r)
		must(t, err)
		resp := post(t, srv.URL+PathFunctions, b)
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	codes := []string{libCode("a", "1"), libCode("b", "2")}
	if code, body := req(FunctionsRequest{Libraries: codes, Check: true}); code != 200 || fns.loaded != nil {
		t.Fatalf("check on an empty primary: HTTP %d %s, loaded %q; want 200 and nothing loaded", code, body, fns.loaded)
	}
	if code, body := req(FunctionsRequest{Libraries: codes}); code != 200 || !strings.Contains(body, `"libraries": 2`) ||
		!slices.Equal(fns.loaded, codes) || repl.waits.Load() != 1 {
		t.Fatalf("load: HTTP %d %s, loaded %q, %d waits; want 200, both loaded, waited for the backup", code, body, fns.loaded, repl.waits.Load())
	}
	for _, check := range []bool{true, false} {
		if code, body := req(FunctionsRequest{Libraries: codes, Check: check}); code != http.StatusConflict || !strings.Contains(body, "holds function libraries (a, b)") {
			t.Fatalf("check %v on a primary holding libraries: HTTP %d %s; want 409 naming a, b", check, code, body)
		}
	}
	if resp := post(t, srv.URL+PathFunctions, []byte("{")); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a body that is not JSON: HTTP %d, want 400", resp.StatusCode)
	}
	repl.role = cluster.RoleBackup
	fns.loaded = nil
	if code, body := req(FunctionsRequest{Libraries: codes}); code != http.StatusConflict || fns.loaded != nil {
		t.Fatalf("load on a backup: HTTP %d %s, loaded %q; want 409, nothing loaded", code, body, fns.loaded)
	}
}
