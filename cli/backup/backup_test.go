package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/insightgrid/insight/cli/deps"
	"github.com/insightgrid/insight/cli/exit"
	"github.com/insightgrid/insight/grid/api"
)

const testToken = "s3cr3t-operator-token"

// fakeManager serves the manager's backup endpoints: partition p's snapshot is
// snaps[p] (keys: p+1, records p+2), a restore records its body, a restore of function libraries
// records them (or refuses with held, when set).
type fakeManager struct {
	snaps [][]byte
	keys  []int64 // what each primary reports
	cut   int     // this partition's snapshot ends without trailers (-1: none)
	held  string  // the refusal of POST /v1/restore/functions ("": none)

	mu       sync.Mutex
	restored [][]byte
	heads    map[string][]api.Library // the libraries of each snapshot's head
	libs     [][]string               // each POST /v1/restore/functions's libraries
	calls    []string                 // the restore endpoints called, in order
}

// libCode is the code of a library named name whose function returns ret.
func libCode(name, ret string) string {
	return "#!lua name=" + name + "\nredis.register_function('" + name + "_f', function() return '" + ret + "' end)\n"
}

// frame is one record of the snapshot format: its length, a CRC (which only the grid
// checks) and the payload.
func frame(payload []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(payload)))
	b = binary.LittleEndian.AppendUint32(b, 0)
	return append(b, payload...)
}

// snapshotOf is a snapshot as the format frames it: the magic, a head record naming
// tag, a record naming tag's libraries, and keys records of 1000 bytes. The fake manager
// tells the libraries of a head it was given by libs.
func (f *fakeManager) snapshotOf(tag string, keys int, libs ...api.Library) []byte {
	b := []byte("INSGSNP1")
	b = append(b, frame([]byte("S head of "+tag))...)
	b = append(b, frame([]byte("s libraries of "+tag))...)
	head := string(b)
	for range keys {
		b = append(b, frame(bytes.Repeat([]byte("k"), 1000))...)
	}
	f.mu.Lock()
	f.heads[head] = libs
	f.mu.Unlock()
	return b
}

// newFakeManager serves a grid of partitions whose partition p's snapshot holds p+1 keys
// and the library "shared" (the same in all), and the last partition's also "extra".
func newFakeManager(t *testing.T, partitions int) (*fakeManager, string) {
	t.Helper()
	f := &fakeManager{cut: -1, keys: make([]int64, partitions), heads: map[string][]api.Library{}}
	for p := range partitions {
		libs := []api.Library{{Name: "shared", Code: libCode("shared", "s")}}
		if p == partitions-1 {
			libs = append(libs, api.Library{Name: "extra", Code: libCode("extra", "e")})
		}
		f.snaps = append(f.snaps, f.snapshotOf(fmt.Sprint("partition ", p), p+1, libs...))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/cluster", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(api.Cluster{Version: "9.9.9", Partitions: partitions})
	})
	mux.HandleFunc("GET /v1/partitions", func(w http.ResponseWriter, _ *http.Request) {
		var out api.Partitions
		for p := range partitions {
			id := api.InstanceID(p, 0)
			out.Partitions = append(out.Partitions, api.Partition{ID: p, Primary: id, Slots: [][2]int{{p, p}},
				Instances: []api.Instance{{ID: id, Keys: &f.keys[p]}}})
		}
		_ = json.NewEncoder(w).Encode(out)
	})
	authorized := func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get(api.TokenHeader) != testToken {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":"Unauthorized","message":"no token"}}`))
			return false
		}
		return true
	}
	mux.HandleFunc("POST /v1/partitions/{id}/snapshot", func(w http.ResponseWriter, r *http.Request) {
		if !authorized(w, r) {
			return
		}
		p, _ := strconv.Atoi(r.PathValue("id"))
		w.Header().Set("Trailer", api.TrailerKeys+", "+api.TrailerSeqEnd)
		w.Header().Set(api.HeaderEpoch, "3")
		w.Header().Set(api.HeaderSeq, strconv.Itoa(100*p))
		_, _ = w.Write(f.snaps[p])
		if p != f.cut {
			w.Header().Set(api.TrailerKeys, strconv.Itoa(p+2)) // its keys and its record of function libraries
			w.Header().Set(api.TrailerSeqEnd, strconv.Itoa(100*p+5))
		}
	})
	mux.HandleFunc("POST /v1/restore", func(w http.ResponseWriter, r *http.Request) {
		if !authorized(w, r) {
			return
		}
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.restored = append(f.restored, b)
		f.calls = append(f.calls, "keys")
		f.mu.Unlock()
		for p, s := range f.snaps {
			if bytes.Equal(s, b) {
				_ = json.NewEncoder(w).Encode(api.RestoreResult{Keys: uint64(p + 1), ByPartition: map[int]uint64{0: uint64(p + 1)}})
				return
			}
		}
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":{"code":"BadRequest","message":"not a snapshot"}}`))
	})
	mux.HandleFunc("POST "+api.PathRestoreLibraries, func(w http.ResponseWriter, r *http.Request) {
		if !authorized(w, r) {
			return
		}
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		libs, ok := f.heads[string(b)]
		f.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":{"code":"BadRequest","message":"the head is damaged or not a snapshot's"}}`))
			return
		}
		_ = json.NewEncoder(w).Encode(api.SnapshotLibraries{Libraries: libs})
	})
	mux.HandleFunc("POST "+api.PathRestoreFunctions, func(w http.ResponseWriter, r *http.Request) {
		if !authorized(w, r) {
			return
		}
		if f.held != "" {
			w.WriteHeader(http.StatusConflict)
			_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: api.ErrorDetail{Code: api.CodeConflict, Message: f.held}})
			return
		}
		var req api.FunctionsRestore
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Errorf("POST %s: %v", api.PathRestoreFunctions, err)
		}
		f.mu.Lock()
		f.libs = append(f.libs, req.Libraries)
		f.calls = append(f.calls, "functions")
		f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(api.FunctionsRestoreResult{Libraries: len(req.Libraries), Primaries: partitions})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *fakeManager) loaded() ([][]string, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.libs, f.calls
}

func (f *fakeManager) restores() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.restored
}

// testOptions are options reaching the fake manager at url with the token in a file.
func testOptions(t *testing.T, url, flag, location string, env map[string]string) Options {
	t.Helper()
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return Options{Release: "demo", Location: location, LocationFlag: flag, ManagerURL: url, TokenFile: tok,
		Timeout: time.Minute, Getenv: func(k string) string { return env[k] }}
}

func testDeps(out, errOut *bytes.Buffer) *deps.Deps {
	return &deps.Deps{IO: deps.IO{Out: out, ErrOut: errOut, Output: "json"},
		Now: func() time.Time { return time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC) }}
}

// roundTrip backs the fake manager's grid up to location and restores it into an empty
// one, checking the manifest and that each snapshot came back byte for byte.
func roundTrip(t *testing.T, location string, s3 S3Options, env map[string]string) {
	t.Helper()
	f, url := newFakeManager(t, 3)
	o := testOptions(t, url, "--to", location, env)
	o.S3 = s3
	var out, errOut bytes.Buffer
	if err := Backup(context.Background(), testDeps(&out, &errOut), o); err != nil {
		t.Fatalf("backup: %v", err)
	}
	var m api.Manifest
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m.Release != "demo" || m.GridVersion != "9.9.9" || m.Time != "2026-12-07T12:00:00Z" || len(m.Partitions) != 3 {
		t.Fatalf("manifest %+v", m)
	}
	for p, ps := range m.Partitions {
		if ps.File != SnapshotFile(p) || ps.Keys != uint64(p+2) || ps.Epoch != 3 || ps.Seq != uint64(100*p) || ps.SeqEnd != uint64(100*p+5) ||
			ps.Bytes != int64(len(f.snaps[p])) || len(ps.SHA256) != 64 || ps.Slots[0] != [2]int{p, p} {
			t.Fatalf("partition %d in the manifest: %+v", p, ps)
		}
	}
	if strings.Contains(out.String()+errOut.String(), testToken) || strings.Contains(out.String()+errOut.String(), "SECRETKEY") {
		t.Fatal("a secret was printed")
	}

	o.LocationFlag = "--from"
	out.Reset()
	if err := Restore(context.Background(), testDeps(&out, &errOut), o); err != nil {
		t.Fatalf("restore: %v", err)
	}
	var rep Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Keys != 6 || rep.BackupRelease != "demo" || !slices.Equal(rep.Libraries, []string{"extra", "shared"}) {
		t.Fatalf("report %+v; want 6 keys, libraries extra and shared", rep)
	}
	libs, calls := f.loaded()
	if len(libs) != 1 || !slices.Equal(libs[0], []string{libCode("extra", "e"), libCode("shared", "s")}) ||
		strings.Join(calls, ",") != "functions,keys,keys,keys" {
		t.Fatalf("libraries loaded %q by calls %v; want extra and shared once (shared is in every file), before any key", libs, calls)
	}
	got := f.restores()
	if len(got) != 3 {
		t.Fatalf("%d restores, want 3", len(got))
	}
	for p := range got {
		if !bytes.Equal(got[p], f.snaps[p]) {
			t.Fatalf("restore %d sent %d bytes, not partition %d's snapshot", p, len(got[p]), p)
		}
	}
}

func TestBackupRestoreDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "backups", "demo")
	roundTrip(t, dir, S3Options{}, nil)
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range names {
		got = append(got, n.Name())
	}
	if strings.Join(got, ",") != "manifest.json,partition-00000.snap,partition-00001.snap,partition-00002.snap" {
		t.Fatalf("backup directory holds %v", got)
	}
}

// startS3 serves an in-memory S3 (gofakes3) with bucket.
func startS3(t *testing.T, bucket string) (*s3mem.Backend, string) {
	t.Helper()
	be := s3mem.New()
	if err := be.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(be).Server())
	t.Cleanup(srv.Close)
	return be, srv.URL
}

func TestBackupRestoreS3(t *testing.T) {
	be, endpoint := startS3(t, "grid-backups")
	env := map[string]string{"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "SECRETKEY"}
	roundTrip(t, "s3://grid-backups/demo/2026-12-07", S3Options{Endpoint: endpoint, PathStyle: true}, env)
	list, err := be.ListBucket("grid-backups", nil, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, c := range list.Contents {
		keys = append(keys, c.Key)
	}
	if strings.Join(keys, ",") != "demo/2026-12-07/manifest.json,demo/2026-12-07/partition-00000.snap,demo/2026-12-07/partition-00001.snap,demo/2026-12-07/partition-00002.snap" {
		t.Fatalf("bucket holds %v", keys)
	}
}

// TestS3CredentialsFile: the access key is read from a shared credentials file's
// profile; without credentials the error says how to give them, and never the secret.
func TestS3CredentialsFile(t *testing.T) {
	_, endpoint := startS3(t, "b")
	file := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(file, []byte("[default]\naws_access_key_id = A\naws_secret_access_key = B\n[ci]\naws_access_key_id=AKIDCI\naws_secret_access_key=SECRETKEY\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := S3Options{CredentialsFile: file}.credentials(func(k string) string { return map[string]string{"AWS_PROFILE": "ci"}[k] })
	if err != nil || c.AccessKeyID != "AKIDCI" || c.SecretAccessKey != "SECRETKEY" {
		t.Fatalf("profile ci: %+v, %v", c.AccessKeyID, err)
	}
	_, err = S3Options{CredentialsFile: file}.credentials(func(k string) string { return map[string]string{"AWS_PROFILE": "nope"}[k] })
	if err == nil || !strings.Contains(err.Error(), "profile [nope]") || strings.Contains(err.Error(), "SECRETKEY") {
		t.Fatalf("missing profile: %v", err)
	}
	_, err = NewS3Store(Location{Scheme: SchemeS3, Bucket: "b"}, S3Options{Endpoint: endpoint}, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") || !strings.Contains(err.Error(), "--s3-credentials-file") {
		t.Fatalf("no credentials: %v", err)
	}
}

// TestRestoreRefuses: a location without a manifest, a damaged, missing or altered file,
// and a grid that holds keys are refused (exit code 2) before anything is restored.
func TestRestoreRefuses(t *testing.T) {
	f, url := newFakeManager(t, 2)
	dir := filepath.Join(t.TempDir(), "bk")
	var out, errOut bytes.Buffer
	if err := Backup(context.Background(), testDeps(&out, &errOut), testOptions(t, url, "--to", dir, nil)); err != nil {
		t.Fatal(err)
	}
	copyOf := func(t *testing.T, change func(dir string)) string {
		t.Helper()
		d := filepath.Join(t.TempDir(), "copy")
		if err := os.CopyFS(d, os.DirFS(dir)); err != nil {
			t.Fatal(err)
		}
		change(d)
		return d
	}
	write := func(name string, b []byte) func(string) {
		return func(d string) {
			if err := os.WriteFile(filepath.Join(d, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	flipped := bytes.Clone(f.snaps[1])
	flipped[10] ^= 1
	manifest, _ := os.ReadFile(filepath.Join(dir, api.ManifestFile))
	for _, tc := range []struct {
		name, from, want string
		keys             int64
	}{
		{name: "no manifest", from: copyOf(t, func(d string) { _ = os.Remove(filepath.Join(d, api.ManifestFile)) }), want: "holds no manifest.json: not a backup, or one that did not complete"},
		{name: "empty directory", from: t.TempDir(), want: "holds no manifest.json"},
		{name: "checksum mismatch", from: copyOf(t, write("partition-00001.snap", flipped)), want: "partition-00001.snap (partition 1) is damaged"},
		{name: "missing file", from: copyOf(t, func(d string) { _ = os.Remove(filepath.Join(d, "partition-00000.snap")) }), want: "partition-00000.snap (partition 0) is missing"},
		{name: "not a manifest", from: copyOf(t, write(api.ManifestFile, []byte("{\"nope\": 1}"))), want: "not a backup manifest"},
		{name: "file outside", from: copyOf(t, write(api.ManifestFile, bytes.Replace(manifest, []byte("partition-00000.snap"), []byte("../x.snap"), 1))), want: "is not a file name beside the manifest"},
		{name: "grid holds keys", from: dir, keys: 7, want: "demo holds 14 keys (partition 0: 7, partition 1: 7): restore writes into a new or empty release only"},
		{name: "conflicting libraries", from: copyOf(t, func(d string) {
			rewrite(t, d, 1, f.snapshotOf("other", 2, api.Library{Name: "shared", Code: libCode("shared", "other")}))
		}), want: `function library "shared" differs between files partition-00000.snap and partition-00001.snap`},
		{name: "not a snapshot", from: copyOf(t, func(d string) { rewrite(t, d, 0, bytes.Repeat([]byte("not a snapshot;"), 100)) }),
			want: "partition-00000.snap (partition 0) is not a snapshot"},
		{name: "head the grid refuses", from: copyOf(t, func(d string) {
			rewrite(t, d, 0, append([]byte("INSGSNP1"), append(frame([]byte("x")), frame([]byte("y"))...)...))
		}),
			want: "partition-00000.snap (partition 0) is damaged or not a snapshot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.keys[0], f.keys[1] = tc.keys, tc.keys
			err := Restore(context.Background(), testDeps(&out, &errOut), testOptions(t, url, "--from", tc.from, nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) || exit.Code(err) != exit.BadInput {
				t.Fatalf("restore: %v (exit %d), want exit 2 and %q", err, exit.Code(err), tc.want)
			}
			if libs, calls := f.loaded(); len(f.restores()) != 0 || len(calls) != 0 {
				t.Fatalf("%d files restored, libraries %q loaded; want none", len(f.restores()), libs)
			}
		})
	}
	f.held = "partition 1's primary holds function libraries (mine): restore loads the backup's libraries into a new or empty release only"
	f.keys[0], f.keys[1] = 0, 0
	err := Restore(context.Background(), testDeps(&out, &errOut), testOptions(t, url, "--from", dir, nil))
	if err == nil || !strings.Contains(err.Error(), "holds function libraries (mine)") || exit.Code(err) != exit.BadInput {
		t.Fatalf("restore into a grid holding a library: %v (exit %d); want exit 2 and the manager's refusal naming it", err, exit.Code(err))
	}
	if n := len(f.restores()); n != 0 {
		t.Fatalf("%d files restored into a grid holding a library, want none", n)
	}
}

// rewrite makes partition p's file in the backup dir b, with a manifest matching it.
func rewrite(t *testing.T, dir string, p int, b []byte) {
	t.Helper()
	mf := filepath.Join(dir, api.ManifestFile)
	raw, err := os.ReadFile(mf)
	if err != nil {
		t.Fatal(err)
	}
	var m api.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	m.Partitions[p].Bytes, m.Partitions[p].SHA256 = int64(len(b)), hex.EncodeToString(sum[:])
	if raw, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, m.Partitions[p].File), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mf, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestBackupRefuses: a location holding a backup is not overwritten; a snapshot cut
// short leaves no manifest and no file behind; a wrong token is the manager's refusal.
func TestBackupRefuses(t *testing.T) {
	f, url := newFakeManager(t, 2)
	dir := filepath.Join(t.TempDir(), "bk")
	var out, errOut bytes.Buffer
	d := testDeps(&out, &errOut)
	if err := Backup(context.Background(), d, testOptions(t, url, "--to", dir, nil)); err != nil {
		t.Fatal(err)
	}
	err := Backup(context.Background(), d, testOptions(t, url, "--to", dir, nil))
	if err == nil || !strings.Contains(err.Error(), "already holds a backup (manifest.json)") || exit.Code(err) != exit.BadInput {
		t.Fatalf("backup over a backup: %v", err)
	}

	f.cut = 1
	cut := filepath.Join(t.TempDir(), "cut")
	err = Backup(context.Background(), d, testOptions(t, url, "--to", cut, nil))
	if err == nil || !strings.Contains(err.Error(), "snapshot of partition 1") || !strings.Contains(err.Error(), "cut short") {
		t.Fatalf("cut snapshot: %v", err)
	}
	names, _ := os.ReadDir(cut)
	if len(names) != 1 || names[0].Name() != "partition-00000.snap" {
		t.Fatalf("after a cut snapshot the location holds %v; want partition 0's file only, no manifest", names)
	}

	o := testOptions(t, url, "--to", filepath.Join(t.TempDir(), "x"), nil)
	if err := os.WriteFile(o.TokenFile, []byte("wrong"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Backup(context.Background(), d, o); err == nil || !strings.Contains(err.Error(), "HTTP 401") || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong token: %v", err)
	}
}

func TestParseLocation(t *testing.T) {
	wd, _ := os.Getwd()
	for _, tc := range []struct {
		raw  string
		want Location
		err  string
	}{
		{raw: "/backups/demo", want: Location{Scheme: SchemeFile, Dir: "/backups/demo"}},
		{raw: "bk", want: Location{Scheme: SchemeFile, Dir: filepath.Join(wd, "bk")}},
		{raw: "file:///backups/demo/", want: Location{Scheme: SchemeFile, Dir: "/backups/demo"}},
		{raw: "s3://bucket", want: Location{Scheme: SchemeS3, Bucket: "bucket"}},
		{raw: "s3://bucket/a/b/", want: Location{Scheme: SchemeS3, Bucket: "bucket", Prefix: "a/b"}},
		{raw: "", err: `--to "": empty`},
		{raw: "ftp://host/x", err: `--to "ftp://host/x": scheme "ftp" is not supported (file or s3); want a directory`},
		{raw: "file://host/x", err: "not host \"host\""},
		{raw: "s3:///x", err: "no bucket"},
		{raw: "s3://b/a/../c", err: ". or .. segments"},
		{raw: "s3://key:secret@b/x", err: "no query, fragment or user part"},
	} {
		got, err := ParseLocation("--to", tc.raw)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want an error with %q", tc.raw, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %+v, %v; want %+v", tc.raw, got, err, tc.want)
		}
	}
}

// TestValidate: bad flags are named with what was given and what is allowed.
func TestValidate(t *testing.T) {
	o := Options{Release: "demo", LocationFlag: "--from", Location: "gs://b/x", ManagerURL: "ftp://m", TokenFile: "t",
		S3: S3Options{Endpoint: "minio:9000"}, Timeout: 0}
	err := o.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"--from", `scheme "gs" is not supported (file or s3)`, "--s3-endpoint", "--manager-url", "--timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v: want %q", err, want)
		}
	}
	o = Options{Release: "demo", LocationFlag: "--to", Location: "/x", TokenFile: "t", Timeout: time.Hour}
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--operator-token-file") {
		t.Errorf("token file without --manager-url: %v", err)
	}
}
