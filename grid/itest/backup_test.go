package itest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/slots"
)

// insightctl is the CLI, built once for the tests that drive a local grid with it.
var insightctl struct {
	once sync.Once
	bin  string
	err  error
}

func buildInsightctl(t *testing.T) string {
	t.Helper()
	insightctl.once.Do(func() {
		dir, err := os.MkdirTemp("", "insightctl-itest-")
		if err != nil {
			insightctl.err = err
			return
		}
		insightctl.bin = filepath.Join(dir, "insightctl")
		out, err := exec.Command("go", "build", "-o", insightctl.bin, "github.com/insightgrid/insight/cli/cmd/insightctl").CombinedOutput()
		if err != nil {
			insightctl.err = fmt.Errorf("building insightctl: %w\n%s", err, out)
		}
	})
	if insightctl.err != nil {
		t.Fatal(insightctl.err)
	}
	return insightctl.bin
}

// runCtl runs insightctl with args and returns its stdout, stderr and exit code.
func runCtl(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, buildInsightctl(t), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=/nonexistent") // the local grid needs no cluster
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("insightctl %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// tokenFile writes token to a file for --operator-token-file.
func tokenFile(t *testing.T, token string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "operator-token")
	if err := os.WriteFile(f, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// writeBackupData writes n keys of each type, some with a TTL, and returns every key.
func writeBackupData(ctx context.Context, t *testing.T, c *redis.ClusterClient, n int) []string {
	t.Helper()
	var keys []string
	ok := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		k := func(kind string) string { s := fmt.Sprintf("bk:%s:%d", kind, i); keys = append(keys, s); return s }
		ok(c.Set(ctx, k("str"), fmt.Sprintf("value-%d", i), 0).Err())
		ok(c.Set(ctx, k("ttl"), "expiring", time.Duration(10+i%50)*time.Minute).Err())
		ok(c.IncrBy(ctx, k("ctr"), int64(i)).Err())
		h := k("hash")
		ok(c.HSet(ctx, h, "a", "1", "b", strings.Repeat("x", i), "c", "3").Err())
		ok(c.Expire(ctx, h, 20*time.Minute).Err())
		ok(c.RPush(ctx, k("list"), "x", "y", i).Err())
		ok(c.SAdd(ctx, k("set"), "m1", "m2", i).Err())
		ok(c.ZAdd(ctx, k("zset"), redis.Z{Score: 1.5, Member: "a"}, redis.Z{Score: float64(-i), Member: "b"}).Err())
		s := k("stream")
		ok(c.XAdd(ctx, &redis.XAddArgs{Stream: s, ID: "1-1", Values: []string{"f", "v1"}}).Err())
		ok(c.XAdd(ctx, &redis.XAddArgs{Stream: s, ID: "2-1", Values: []string{"f", "v2"}}).Err())
		ok(c.XGroupCreate(ctx, s, "g", "0").Err())
		ok(c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "alice", Streams: []string{s, ">"}, Count: 1}).Err())
		ok(c.PFAdd(ctx, k("hll"), "a", "b", i).Err())
	}
	return keys
}

// backupKeyState is what a key must have in both grids: its type, its DUMP payload and its
// absolute expiry.
type backupKeyState struct {
	typ, dump string
	expireAt  int64
}

func stateOf(ctx context.Context, t *testing.T, c *redis.ClusterClient, key string) backupKeyState {
	t.Helper()
	typ, err := c.Type(ctx, key).Result()
	if err != nil {
		t.Fatalf("TYPE %s: %v", key, err)
	}
	dump, err := c.Dump(ctx, key).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatalf("DUMP %s: %v", key, err)
	}
	at, err := c.PExpireTime(ctx, key).Result()
	if err != nil {
		t.Fatalf("PEXPIRETIME %s: %v", key, err)
	}
	return backupKeyState{typ: typ, dump: dump, expireAt: int64(at)}
}

// TestBackupRestoreLocal backs up a local grid of 3 partitions with insightctl, checks
// that the backup is refused into a grid that holds keys and that a damaged backup is
// refused naming its file, restores it into a new grid of 2 HA partitions and compares
// every key's type, DUMP payload and expiry time, and that each backup has its primary's
// keys.
func TestBackupRestoreLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two local grids")
	}
	const n = 200
	base, srcAPI, _, srcToken := runLocal(t, 3, 3)
	src := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{fmt.Sprintf("127.0.0.1:%d", base+10)}, MaxRedirects: 16})
	t.Cleanup(func() { src.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	keys := writeBackupData(ctx, t, src, n)
	srcTok := tokenFile(t, srcToken)
	// Functions are every primary's, loaded on each as a Redis Cluster user does.
	must(t, src.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		return c.FunctionLoad(ctx, restoredLib("SET")).Err()
	}))

	// A snapshot is all of a partition's data: without the operator token neither the
	// manager nor the data instance gives one.
	for _, url := range []string{srcAPI + api.PartitionPath(0, api.OpSnapshot), fmt.Sprintf("http://127.0.0.1:%d/v1/backup/snapshot", base+1010)} {
		if code, body := postStatus(t, url, ""); code != 401 {
			t.Fatalf("POST %s without the token: %d %s, want 401", url, code, body)
		}
	}
	if code, body := postToken(t, srcAPI+api.PartitionPath(7, api.OpSnapshot), srcToken, ""); code != 404 || !strings.Contains(body, "partition 7 not found") {
		t.Fatalf("snapshot of partition 7 of 3: %d %s, want 404", code, body)
	}

	dir := filepath.Join(t.TempDir(), "bk")
	buildInsightctl(t)
	start := time.Now()
	out, errOut, code := runCtl(t, "backup", "src", "--to", dir, "--manager-url", srcAPI, "--operator-token-file", srcTok, "-o", "json")
	if code != 0 {
		t.Fatalf("insightctl backup: exit %d\n%s%s", code, out, errOut)
	}
	took := time.Since(start)
	var m api.Manifest
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("backup -o json: %v\n%s", err, out)
	}
	var total uint64
	var size int64
	for _, p := range m.Partitions {
		total += p.Keys
		size += p.Bytes
	}
	if len(m.Partitions) != 3 || total != uint64(len(keys)+3) {
		t.Fatalf("manifest: %d partitions, %d records; want 3 partitions, %d keys and a record of function libraries each\n%s", len(m.Partitions), total, len(keys), out)
	}
	total -= 3
	t.Logf("backup of %d keys: %d bytes in %s", total, size, took.Round(time.Millisecond))

	// A location holding a backup is not overwritten.
	if _, errOut, code := runCtl(t, "backup", "src", "--to", dir, "--manager-url", srcAPI, "--operator-token-file", srcTok); code != 2 || !strings.Contains(errOut, "already holds a backup") {
		t.Fatalf("backup over a backup: exit %d, %s; want 2 and \"already holds a backup\"", code, errOut)
	}
	// The source holds keys: restoring into it is refused, naming how many.
	if _, errOut, code := runCtl(t, "restore", "src", "--from", dir, "--manager-url", srcAPI, "--operator-token-file", srcTok); code != 2 ||
		!strings.Contains(errOut, fmt.Sprintf("holds %d keys", len(keys))) {
		t.Fatalf("restore into a grid with keys: exit %d, %s; want 2 and \"holds %d keys\"", code, errOut, len(keys))
	}

	dst := startHALocal(t, 2, 2)
	dstTok := tokenFile(t, dst.token)
	// A damaged copy of the backup is refused before anything is written.
	damaged := filepath.Join(t.TempDir(), "damaged")
	if err := os.CopyFS(damaged, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(damaged, m.Partitions[1].File)
	b, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(victim, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runCtl(t, "restore", "dst", "--from", damaged, "--manager-url", dst.api, "--operator-token-file", dstTok); code != 2 ||
		!strings.Contains(errOut, m.Partitions[1].File+" (partition 1) is damaged") {
		t.Fatalf("restore of a damaged backup: exit %d, %s; want 2 naming %s", code, errOut, m.Partitions[1].File)
	}
	dstClient := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{fmt.Sprintf("127.0.0.1:%d", dst.base+10)}, MaxRedirects: 16})
	t.Cleanup(func() { dstClient.Close() })
	if sz := dbSize(ctx, t, dstClient); sz != 0 {
		t.Fatalf("after the refused restore the new grid holds %d keys, want 0", sz)
	}

	// A backup whose files hold two bodies of one library is refused, naming the library
	// and the files, before anything is written.
	lastPrimary := instanceClient(t, base+10+2) // partition 2's only instance
	must(t, lastPrimary.FunctionLoadReplace(ctx, restoredLib("SETNX")).Err())
	conflicting := filepath.Join(t.TempDir(), "conflicting")
	if out, errOut, code := runCtl(t, "backup", "src", "--to", conflicting, "--manager-url", srcAPI, "--operator-token-file", srcTok); code != 0 {
		t.Fatalf("insightctl backup: exit %d\n%s%s", code, out, errOut)
	}
	must(t, lastPrimary.FunctionLoadReplace(ctx, restoredLib("SET")).Err())
	if _, errOut, code := runCtl(t, "restore", "dst", "--from", conflicting, "--manager-url", dst.api, "--operator-token-file", dstTok); code != 2 ||
		!strings.Contains(errOut, `function library "restored" differs between files partition-00000.snap and partition-00002.snap`) {
		t.Fatalf("restore of a backup with two bodies of a library: exit %d, %s; want 2 naming the library and the files", code, errOut)
	}
	// A release holding a library is refused, naming it, with nothing loaded elsewhere.
	dstPrimary1 := instanceClient(t, dst.respPort(t, dst.waitHealthy(t, 1, 30*time.Second).Primary))
	must(t, dstPrimary1.FunctionLoad(ctx, "#!lua name=mine\nredis.register_function('mine', function() return 1 end)").Err())
	if _, errOut, code := runCtl(t, "restore", "dst", "--from", dir, "--manager-url", dst.api, "--operator-token-file", dstTok); code != 2 ||
		!strings.Contains(errOut, "holds function libraries (mine)") {
		t.Fatalf("restore into a release holding a library: exit %d, %s; want 2 naming it", code, errOut)
	}
	if libs := functionNames(ctx, t, dstClient); libs != "[] [mine]" {
		t.Fatalf("after the refused restores the new grid's primaries hold libraries %s; want only mine on one", libs)
	}
	if sz := dbSize(ctx, t, dstClient); sz != 0 {
		t.Fatalf("after the refused restores the new grid holds %d keys, want 0", sz)
	}
	must(t, dstPrimary1.FunctionDelete(ctx, "mine").Err())

	start = time.Now()
	out, errOut, code = runCtl(t, "restore", "dst", "--from", "file://"+dir, "--manager-url", dst.api, "--operator-token-file", dstTok, "-o", "json")
	if code != 0 {
		t.Fatalf("insightctl restore: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("restore of %d keys into 2 partitions: %s", total, time.Since(start).Round(time.Millisecond))
	unordered := 0
	for _, key := range keys {
		want, got := stateOf(ctx, t, src, key), stateOf(ctx, t, dstClient, key)
		if want.dump != got.dump && want.typ == got.typ && (want.typ == "hash" || want.typ == "set") {
			// A hash or set past its small encoding dumps its members in its table's
			// order, which depends on how it was built: compare the members instead.
			want.dump, got.dump = members(ctx, t, src, key, want.typ), members(ctx, t, dstClient, key, got.typ)
			unordered++
		}
		if want != got {
			t.Fatalf("key %s: restored %+v, want %+v", key, got, want)
		}
	}
	t.Logf("%d keys DUMP-equal, %d hashes and sets equal member by member", len(keys)-unordered, unordered)
	if sz := dbSize(ctx, t, dstClient); sz != int64(len(keys)) {
		t.Fatalf("the new grid holds %d keys, want %d", sz, len(keys))
	}
	// Restored keys are writes like any: each partition's backup has them.
	for p := range 2 {
		pt := dst.waitHealthy(t, p, 30*time.Second)
		pst, err1 := dst.status(pt.Primary)
		bst, err2 := dst.status(pt.Backup)
		if err1 != nil || err2 != nil || pst.Keys == 0 || pst.Keys != bst.Keys {
			t.Fatalf("partition %d: primary %d keys (%v), backup %d keys (%v); want equal and not 0", p, pst.Keys, err1, bst.Keys, err2)
		}
	}

	// The function libraries: every primary of the new grid has the source's, and so does
	// each backup (a restore's FUNCTION LOAD replicates as any); FCALL runs on every
	// partition, with a key of its slots.
	var rep struct{ Libraries []string }
	if err := json.Unmarshal([]byte(out), &rep); err != nil || !slices.Equal(rep.Libraries, []string{"restored"}) {
		t.Fatalf("restore -o json: libraries %q (%v), want [restored]\n%s", rep.Libraries, err, out)
	}
	srcLibs, dstLibs := functionLists(ctx, t, src), functionLists(ctx, t, dstClient)
	if want := strings.Repeat(" "+oneList(ctx, t, lastPrimary), 2)[1:]; dstLibs != want || !strings.HasPrefix(srcLibs, want) {
		t.Fatalf("FUNCTION LIST WITHCODE: the new grid's primaries %s, the source's %s; want each the source's", dstLibs, srcLibs)
	}
	for p := range 2 {
		pt := dst.waitHealthy(t, p, 30*time.Second)
		got := oneList(ctx, t, instanceClient(t, dst.respPort(t, pt.Backup)))
		if want := oneList(ctx, t, lastPrimary); got != want {
			t.Fatalf("partition %d's backup %s holds libraries %s, want %s", p, pt.Backup, got, want)
		}
	}
	covered := map[string]bool{}
	for _, r := range dstClient.ClusterSlots(ctx).Val() { //nolint:staticcheck // CLUSTER SLOTS is what the grid's clients read
		key := keyInSlots(t, r.Start, r.End)
		v, err := dstClient.FCall(ctx, "restored_set", []string{key}, "v-"+key).Result()
		if err != nil || v != "v-"+key {
			t.Fatalf("FCALL restored_set on %s (slots %d-%d): %v, %v; want v-%s", key, r.Start, r.End, v, err, key)
		}
		covered[r.Nodes[0].Addr] = true
	}
	if len(covered) != 2 {
		t.Fatalf("FCALL ran on the primaries %v, want both partitions'", covered)
	}
}

// restoredLib is the library "restored" whose function restored_set writes its argument
// to its key with the command set (SET or SETNX) and returns the key's value.
func restoredLib(set string) string {
	return "#!lua name=restored\nredis.register_function('restored_set', function(keys, args)\n" +
		"  redis.call('" + set + "', keys[1], args[1])\n  return redis.call('GET', keys[1])\nend)\n"
}

// respPort is the RESP port of instance name ("pP-iI"): base+10+2P+I.
func (g *haLocal) respPort(t *testing.T, name string) int {
	t.Helper()
	var p, i int
	if _, err := fmt.Sscanf(name, "p%d-i%d", &p, &i); err != nil {
		t.Fatalf("instance name %q: %v", name, err)
	}
	return g.base + 10 + 2*p + i
}

// must stops the test at an error.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// functionNames are the names of each primary's function libraries, the primaries sorted.
func functionNames(ctx context.Context, t *testing.T, c *redis.ClusterClient) string {
	t.Helper()
	var mu sync.Mutex
	var lists []string
	must(t, c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		libs, err := m.FunctionList(ctx, redis.FunctionListQuery{}).Result()
		if err != nil {
			return err
		}
		var names []string
		for _, l := range libs {
			names = append(names, l.Name)
		}
		slices.Sort(names)
		mu.Lock()
		lists = append(lists, fmt.Sprint(names))
		mu.Unlock()
		return nil
	}))
	slices.Sort(lists)
	return strings.Join(lists, " ")
}

// oneList is one instance's FUNCTION LIST WITHCODE.
func oneList(ctx context.Context, t *testing.T, c *redis.Client) string {
	t.Helper()
	libs, err := c.FunctionList(ctx, redis.FunctionListQuery{WithCode: true}).Result()
	must(t, err)
	return fmt.Sprint([][]redis.Library{libs})
}

// functionLists are the primaries' FUNCTION LIST WITHCODE, sorted.
func functionLists(ctx context.Context, t *testing.T, c *redis.ClusterClient) string {
	t.Helper()
	var mu sync.Mutex
	var lists []string
	must(t, c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		l := oneList(ctx, t, m)
		mu.Lock()
		lists = append(lists, l)
		mu.Unlock()
		return nil
	}))
	slices.Sort(lists)
	return strings.Join(lists, " ")
}

// keyInSlots is a key whose slot is in [start, end].
func keyInSlots(t *testing.T, start, end int) string {
	t.Helper()
	for i := range 100000 {
		key := fmt.Sprintf("fcall:%d", i)
		if s := slots.Of([]byte(key)); s >= start && s <= end {
			return key
		}
	}
	t.Fatalf("no key of slots %d-%d", start, end)
	return ""
}

// members is a hash's or a set's members, sorted, with their encoding.
func members(ctx context.Context, t *testing.T, c *redis.ClusterClient, key, typ string) string {
	t.Helper()
	var items []string
	if typ == "hash" {
		for f, v := range c.HGetAll(ctx, key).Val() {
			items = append(items, f+"="+v)
		}
	} else {
		items = c.SMembers(ctx, key).Val()
	}
	slices.Sort(items)
	return c.ObjectEncoding(ctx, key).Val() + ":" + strings.Join(items, ",")
}

// dbSize is the keys of every primary of c's grid.
func dbSize(ctx context.Context, t *testing.T, c *redis.ClusterClient) int64 {
	t.Helper()
	var mu sync.Mutex
	var total int64
	err := c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		n, err := m.DBSize(ctx).Result()
		mu.Lock()
		total += n
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatalf("DBSIZE: %v", err)
	}
	return total
}
