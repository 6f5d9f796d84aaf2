package itest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/e2e/gridbin"
	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/internal/ports"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// grid is the local grid every test in this package talks to.
var grid struct {
	bin     string
	seed    string
	api     string
	base    int
	stopped chan struct{}
	// token is the operator token local made, tokenFile where it wrote it.
	token, tokenFile string
	// seedTLS is the first instance's RESP over TLS; caFile, certFile and keyFile the CA,
	// certificate and key local made.
	seedTLS, caFile, certFile, keyFile string
}

func TestMain(m *testing.M) {
	flag.Parse()
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "itest:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	dir, cleanup, err := gridbin.Build(gridbin.Grid)
	if err != nil {
		return 0, err
	}
	defer cleanup()
	grid.bin = filepath.Join(dir, gridbin.Grid)
	base, err := freeBase()
	if err != nil {
		return 0, err
	}
	grid.base = base
	cmd := exec.Command(grid.bin, "local", "--partitions", "3", "--base-port", fmt.Sprint(base), "--log-level", "warn", "--timeout", "60s")
	logf, err := os.Create(filepath.Join(dir, "grid.log"))
	if err != nil {
		return 0, err
	}
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting the local grid: %w", err)
	}
	grid.stopped = make(chan struct{})
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-grid.stopped:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
		}
	}()
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "seed "):
				grid.seed = strings.TrimPrefix(line, "seed ")
			case strings.HasPrefix(line, "manager "):
				grid.api = strings.TrimPrefix(line, "manager ")
			case strings.HasPrefix(line, "operator-token-file "):
				grid.tokenFile = strings.TrimPrefix(line, "operator-token-file ")
			case strings.HasPrefix(line, "seed-tls "):
				grid.seedTLS = strings.TrimPrefix(line, "seed-tls ")
			case strings.HasPrefix(line, "ca-cert-file "):
				grid.caFile = strings.TrimPrefix(line, "ca-cert-file ")
			case strings.HasPrefix(line, "tls-cert-file "):
				grid.certFile = strings.TrimPrefix(line, "tls-cert-file ")
			case strings.HasPrefix(line, "tls-key-file "):
				grid.keyFile = strings.TrimPrefix(line, "tls-key-file ")
			case line == "ready":
				ready <- nil
			}
		}
		ready <- errors.New("the local grid exited before it was ready")
		_ = cmd.Wait()
		close(grid.stopped)
	}()
	start := time.Now()
	select {
	case err := <-ready:
		if err != nil {
			b, _ := os.ReadFile(logf.Name())
			return 0, fmt.Errorf("%w; its log:\n%s", err, b)
		}
	case <-time.After(90 * time.Second):
		return 0, errors.New("the local grid was not ready in 90s")
	}
	if grid.tokenFile == "" {
		return 0, errors.New("the local grid printed no operator-token-file line")
	}
	if grid.seedTLS == "" || grid.caFile == "" || grid.certFile == "" || grid.keyFile == "" {
		return 0, errors.New("the local grid printed no seed-tls, ca-cert-file, tls-cert-file or tls-key-file line")
	}
	b, err := os.ReadFile(grid.tokenFile)
	if err != nil {
		return 0, fmt.Errorf("reading the operator token local printed: %w", err)
	}
	grid.token = strings.TrimSpace(string(b))
	fmt.Fprintf(os.Stderr, "itest: grid ready in %s, seed %s, manager %s\n", time.Since(start).Round(time.Millisecond), grid.seed, grid.api)
	return m.Run(), nil
}

// freeBase finds a base port whose local grid layout (manager +0..8 for three members, its
// metrics +9, RESP +10..12, RESP over TLS +510..512, HTTP +1010..1012, internal links
// +1510..1512, metrics +2010..2012) is free.
func freeBase() (int, error) {
	return ports.FreeBase("127.0.0.1", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 510, 511, 512, 1010, 1011, 1012, 1510, 1511, 1512, 2010, 2011, 2012}, 60000)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func clusterClient(t *testing.T, opt *redis.ClusterOptions) *redis.ClusterClient {
	if opt == nil {
		opt = &redis.ClusterOptions{}
	}
	opt.Addrs = []string{grid.seed}
	c := redis.NewClusterClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestClusterClientSpreadsKeys(t *testing.T) {
	ctx := ctxT(t)
	c := clusterClient(t, nil)
	for i := range 300 {
		k := fmt.Sprintf("spread:%d", i)
		if err := c.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
	for i := range 300 {
		got, err := c.Get(ctx, fmt.Sprintf("spread:%d", i)).Int()
		if err != nil || got != i {
			t.Fatalf("GET spread:%d = %d, %v", i, got, err)
		}
	}
	// Every partition got a share of the keys. ForEachMaster runs in parallel.
	var mu sync.Mutex
	var perNode []int64
	err := c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		keys, err := n.Keys(ctx, "spread:*").Result()
		if err != nil {
			return err
		}
		mu.Lock()
		perNode = append(perNode, int64(len(keys)))
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(perNode) != 3 {
		t.Fatalf("ForEachMaster saw %d masters, want 3", len(perNode))
	}
	for i, n := range perNode {
		if n < 50 {
			t.Errorf("master %d holds %d of 300 keys", i, n)
		}
	}
	shards, err := c.ClusterShards(ctx).Result()
	if err != nil || len(shards) != 3 || shards[0].Slots[0].Start != 0 || shards[0].Slots[0].End != 5460 ||
		shards[2].Slots[0].End != 16383 || shards[1].Nodes[0].Role != "master" {
		t.Fatalf("CLUSTER SHARDS = %+v, %v", shards, err)
	}
}

func TestClusterClientFollowsMoved(t *testing.T) {
	ctx := ctxT(t)
	// A client that believes the seed owns every slot learns the truth from MOVED replies.
	c := clusterClient(t, &redis.ClusterOptions{
		ClusterSlots: func(context.Context) ([]redis.ClusterSlot, error) {
			return []redis.ClusterSlot{{Start: 0, End: 16383, Nodes: []redis.ClusterNode{{Addr: grid.seed}}}}, nil
		},
	})
	for _, k := range []string{"foo", "bar", "somekey", "hello"} {
		if err := c.Set(ctx, "moved:"+k, k, 0).Err(); err != nil {
			t.Fatalf("SET moved:%s: %v", k, err)
		}
		if got, err := c.Get(ctx, "moved:"+k).Result(); err != nil || got != k {
			t.Fatalf("GET moved:%s = %q, %v", k, got, err)
		}
	}
	// A plain client sees the redirect itself.
	plain := redis.NewClient(&redis.Options{Addr: grid.seed})
	defer plain.Close()
	err := plain.Get(ctx, "foo").Err()
	want := fmt.Sprintf("MOVED 12182 127.0.0.1:%d", grid.base+12)
	if err == nil || err.Error() != want {
		t.Fatalf("GET foo on the seed: %v, want %s", err, want)
	}
}

func TestPipelinesHashTagsAndCrossSlot(t *testing.T) {
	ctx := ctxT(t)
	c := clusterClient(t, nil)
	cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range 200 {
			p.Set(ctx, fmt.Sprintf("pipe:%d", i), i, time.Minute)
		}
		for i := range 200 {
			p.Incr(ctx, fmt.Sprintf("pipe:%d", i))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	for i, cmd := range cmds[200:] {
		if v := cmd.(*redis.IntCmd).Val(); v != int64(i+1) {
			t.Fatalf("pipelined INCR pipe:%d = %d", i, v)
		}
	}
	if ttl, err := c.TTL(ctx, "pipe:7").Result(); err != nil || ttl <= 0 || ttl > time.Minute {
		t.Fatalf("TTL pipe:7 = %v, %v", ttl, err)
	}
	// Hash tags put related keys in one slot, so multi-key commands work on them.
	if err := c.MSet(ctx, "{user1000}.following", "a", "{user1000}.followers", "b").Err(); err != nil {
		t.Fatalf("MSET with a hash tag: %v", err)
	}
	vals, err := c.MGet(ctx, "{user1000}.following", "{user1000}.followers").Result()
	if err != nil || fmt.Sprint(vals) != "[a b]" {
		t.Fatalf("MGET = %v, %v", vals, err)
	}
	err = c.MSet(ctx, "foo", "1", "bar", "2").Err()
	if err == nil || err.Error() != "CROSSSLOT Keys in request don't hash to the same slot" {
		t.Fatalf("MSET across slots: %v", err)
	}
	if err := c.HSet(ctx, "{user1000}.profile", "name", "Ada", "visits", 1).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.HIncrBy(ctx, "{user1000}.profile", "visits", 2).Result(); err != nil || n != 3 {
		t.Fatalf("HINCRBY = %d, %v", n, err)
	}
	all, err := c.HGetAll(ctx, "{user1000}.profile").Result()
	if err != nil || all["name"] != "Ada" || all["visits"] != "3" {
		t.Fatalf("HGETALL = %v, %v", all, err)
	}
	err = c.Get(ctx, "{user1000}.profile").Err()
	if err == nil || !strings.HasPrefix(err.Error(), "WRONGTYPE ") {
		t.Fatalf("GET on a hash: %v", err)
	}
}

// TestClusterClientSetsAndLists uses sets and lists the way go-redis's documentation
// shows, on keys spread over the three partitions: the client routes each command
// (SINTERCARD and LMPOP find their keys from a key count) and gets Redis's answers.
func TestClusterClientSetsAndLists(t *testing.T) {
	ctx := ctxT(t)
	c := clusterClient(t, nil)
	for i := range 30 {
		tag := fmt.Sprintf("{u%d}", i)
		if err := c.SAdd(ctx, tag+"tags", "go", "redis", i).Err(); err != nil {
			t.Fatalf("SADD %stags: %v", tag, err)
		}
		if err := c.SAdd(ctx, tag+"seen", "redis", "etcd").Err(); err != nil {
			t.Fatal(err)
		}
		if got, err := c.SInter(ctx, tag+"tags", tag+"seen").Result(); err != nil || fmt.Sprint(got) != "[redis]" {
			t.Fatalf("SINTER %s = %v, %v", tag, got, err)
		}
		if n, err := c.SInterCard(ctx, 0, tag+"tags", tag+"seen").Result(); err != nil || n != 1 {
			t.Fatalf("SINTERCARD %s = %d, %v", tag, n, err)
		}
		if n, err := c.SUnionStore(ctx, tag+"all", tag+"tags", tag+"seen").Result(); err != nil || n != 4 {
			t.Fatalf("SUNIONSTORE %s = %d, %v", tag, n, err)
		}
		if err := c.RPush(ctx, tag+"queue", "a", "b", "c").Err(); err != nil {
			t.Fatal(err)
		}
		if v, err := c.LMove(ctx, tag+"queue", tag+"work", "LEFT", "RIGHT").Result(); err != nil || v != "a" {
			t.Fatalf("LMOVE %s = %q, %v", tag, v, err)
		}
		key, vals, err := c.LMPop(ctx, "right", 5, tag+"empty", tag+"queue").Result()
		if err != nil || key != tag+"queue" || fmt.Sprint(vals) != "[c b]" {
			t.Fatalf("LMPOP %s = %s %v, %v", tag, key, vals, err)
		}
		if got, err := c.LRange(ctx, tag+"work", 0, -1).Result(); err != nil || fmt.Sprint(got) != "[a]" {
			t.Fatalf("LRANGE %swork = %v, %v", tag, got, err)
		}
		if typ, err := c.Type(ctx, tag+"work").Result(); err != nil || typ != "list" {
			t.Fatalf("TYPE %swork = %q, %v", tag, typ, err)
		}
	}
	err := c.SMove(ctx, "{u1}tags", "{u2}tags", "go").Err()
	if err == nil || err.Error() != "CROSSSLOT Keys in request don't hash to the same slot" {
		t.Fatalf("SMOVE across slots: %v", err)
	}
	err = c.LPush(ctx, "{u1}tags", "x").Err()
	if err == nil || !strings.HasPrefix(err.Error(), "WRONGTYPE ") {
		t.Fatalf("LPUSH on a set: %v", err)
	}
}

// TestClusterClientStringsHashesAndKeys uses the string, hash and key commands through
// go-redis's cluster client on keys spread over the three partitions: each is routed by
// the client from COMMAND's key positions and answered as Redis answers it.
func TestClusterClientStringsHashesAndKeys(t *testing.T) {
	ctx := ctxT(t)
	c := clusterClient(t, nil)
	for i := range 30 {
		tag := fmt.Sprintf("{s%d}", i)
		if err := c.Set(ctx, tag+"page", "hello world", time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		if n, err := c.SetRange(ctx, tag+"page", 6, "grid!").Result(); err != nil || n != 11 {
			t.Fatalf("SETRANGE %s = %d, %v", tag, n, err)
		}
		if v, err := c.GetRange(ctx, tag+"page", -5, -1).Result(); err != nil || v != "grid!" {
			t.Fatalf("GETRANGE %s = %q, %v", tag, v, err)
		}
		// go-redis sends an expiration of 0 as PERSIST.
		if v, err := c.GetEx(ctx, tag+"page", 0).Result(); err != nil || v != "hello grid!" || c.TTL(ctx, tag+"page").Val() != -1 {
			t.Fatalf("GETEX PERSIST %s = %q, %v", tag, v, err)
		}
		if v, err := c.GetEx(ctx, tag+"page", time.Hour).Result(); err != nil || v != "hello grid!" {
			t.Fatalf("GETEX %s = %q, %v", tag, v, err)
		}
		if ok, err := c.MSetNX(ctx, tag+"a", "1", tag+"b", "2").Result(); err != nil || !ok {
			t.Fatalf("MSETNX %s = %v, %v", tag, ok, err)
		}
		if err := c.Rename(ctx, tag+"page", tag+"moved").Err(); err != nil {
			t.Fatalf("RENAME %s: %v", tag, err)
		}
		if ttl, err := c.TTL(ctx, tag+"moved").Result(); err != nil || ttl <= 0 {
			t.Fatalf("TTL after RENAME %s = %v, %v", tag, ttl, err)
		}
		if ok, err := c.Copy(ctx, tag+"moved", tag+"copy", 0, false).Result(); err != nil || ok != 1 {
			t.Fatalf("COPY %s = %d, %v", tag, ok, err)
		}
		if v, err := c.LCS(ctx, &redis.LCSQuery{Key1: tag + "moved", Key2: tag + "a"}).Result(); err != nil || v.MatchString != "" {
			t.Fatalf("LCS %s = %+v, %v", tag, v, err)
		}
		if ok, err := c.HSetNX(ctx, tag+"user", "name", "ada").Result(); err != nil || !ok {
			t.Fatalf("HSETNX %s = %v, %v", tag, ok, err)
		}
		if v, err := c.HIncrByFloat(ctx, tag+"user", "score", 1.5).Result(); err != nil || v != 1.5 {
			t.Fatalf("HINCRBYFLOAT %s = %v, %v", tag, v, err)
		}
		if keys, err := c.HKeys(ctx, tag+"user").Result(); err != nil || len(keys) != 2 {
			t.Fatalf("HKEYS %s = %v, %v", tag, keys, err)
		}
		if fields, err := c.HRandField(ctx, tag+"user", 5).Result(); err != nil || len(fields) != 2 {
			t.Fatalf("HRANDFIELD %s = %v, %v", tag, fields, err)
		}
		if n, err := c.Touch(ctx, tag+"user", tag+"copy", tag+"none").Result(); err != nil || n != 2 {
			t.Fatalf("TOUCH %s = %d, %v", tag, n, err)
		}
		if v, err := c.GetDel(ctx, tag+"copy").Result(); err != nil || v != "hello grid!" {
			t.Fatalf("GETDEL %s = %q, %v", tag, v, err)
		}
	}
	err := c.Rename(ctx, "{s1}moved", "{s2}moved").Err()
	if err == nil || err.Error() != "CROSSSLOT Keys in request don't hash to the same slot" {
		t.Fatalf("RENAME across slots: %v", err)
	}
}

func TestRESP2Client(t *testing.T) {
	ctx := ctxT(t)
	c := clusterClient(t, &redis.ClusterOptions{Protocol: 2})
	if err := c.Set(ctx, "resp2", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx, "resp2").Result(); err != nil || v != "v" {
		t.Fatalf("GET over RESP2 = %q, %v", v, err)
	}
}

// TestRedisCLI runs a scripted redis-cli -c session and compares its output with
// testdata/redis-cli.golden.
func TestRedisCLI(t *testing.T) {
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("redis-cli not installed (Debian: apt-get install -y redis-tools); skipping the redis-cli session")
	}
	script, err := os.ReadFile("testdata/redis-cli.txt")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(grid.seed)
	ctx := ctxT(t)
	cmd := exec.CommandContext(ctx, cli, "-c", "-h", host, "-p", port)
	cmd.Stdin = strings.NewReader(string(script))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli: %v\n%s", err, out)
	}
	// Redirect notices name ports, which change from run to run.
	got := strings.ReplaceAll(string(out), host+":", "HOST:")
	for i := range 3 {
		got = strings.ReplaceAll(got, fmt.Sprint(grid.base+10+i), fmt.Sprintf("PORT%d", i))
	}
	golden := "testdata/redis-cli.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("redis-cli session differs from %s:\n--- got\n%s\n--- want\n%s", golden, got, want)
	}
}

func getJSON(t *testing.T, path string, wantStatus int, v any) {
	t.Helper()
	resp, err := http.Get(grid.api + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: status %d, want %d: %s", path, resp.StatusCode, wantStatus, body)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, body)
		}
	}
}

type apiError struct {
	Error struct{ Code, Message string }
}

type partition struct {
	ID               int
	Slots            [][2]int
	Epoch            int64
	Primary          string
	PreferredPrimary string
	Instances        []struct {
		ID, Address, HTTPAddress, Role string
		Ready                          bool
		Keys                           int64
		UsedMemoryBytes                int64
	}
}

func TestManagerAPI(t *testing.T) {
	var cl struct {
		Version    string
		Partitions int
		HA         bool
		Slots      int
		Managers   []struct {
			Name            string
			Leader, Healthy bool
		}
		Etcd struct{ Healthy, Quorum bool }
	}
	getJSON(t, "/v1/cluster", 200, &cl)
	if cl.Partitions != 3 || cl.Slots != 16384 || len(cl.Managers) != 1 || !cl.Managers[0].Leader || !cl.Managers[0].Healthy || !cl.Etcd.Quorum {
		t.Fatalf("/v1/cluster = %+v", cl)
	}

	ctx := ctxT(t)
	c := clusterClient(t, nil)
	if err := c.Set(ctx, "api:key", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	var list struct{ Partitions []partition }
	getJSON(t, "/v1/partitions", 200, &list)
	wantSlots := [][2]int{{0, 5460}, {5461, 10922}, {10923, 16383}}
	var keys int64
	for i, p := range list.Partitions {
		if p.ID != i || p.Slots[0] != wantSlots[i] || p.Epoch != 1 || p.Primary != fmt.Sprintf("p%d-i0", i) || len(p.Instances) != 1 {
			t.Fatalf("partition %d = %+v", i, p)
		}
		in := p.Instances[0]
		if !in.Ready || in.Role != "primary" || in.Address != fmt.Sprintf("127.0.0.1:%d", grid.base+10+i) {
			t.Fatalf("partition %d instance = %+v", i, in)
		}
		keys += in.Keys
	}
	var dbsize atomic.Int64
	err := c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		k, err := n.DBSize(ctx).Result()
		dbsize.Add(k)
		return err
	})
	if err != nil || keys != dbsize.Load() || keys == 0 {
		t.Fatalf("keys reported by the API: %d, by DBSIZE: %d (%v)", keys, dbsize.Load(), err)
	}

	var one partition
	getJSON(t, "/v1/partitions/2", 200, &one)
	if one.ID != 2 || one.Slots[0] != wantSlots[2] {
		t.Fatalf("/v1/partitions/2 = %+v", one)
	}
	errs := []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/v1/partitions/3", 404, "NotFound"},
		{"GET", "/v1/partitions/x", 400, "BadRequest"},
		{"GET", "/v2/nothing", 404, "NotFound"},
		{"POST", "/v1/cluster", 405, "MethodNotAllowed"},
	}
	for _, e := range errs {
		req, _ := http.NewRequest(e.method, grid.api+e.path, nil)
		req.Header.Set(api.TokenHeader, grid.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var ae apiError
		err = json.NewDecoder(resp.Body).Decode(&ae)
		resp.Body.Close()
		if err != nil || resp.StatusCode != e.status || ae.Error.Code != e.code || ae.Error.Message == "" {
			t.Errorf("%s %s: status %d, error %+v (%v); want %d %s", e.method, e.path, resp.StatusCode, ae, err, e.status, e.code)
		}
	}
	getJSON(t, "/readyz", 200, nil)
	// Metrics moved to the manager's metrics port: the API says where.
	var ae apiError
	getJSON(t, "/metrics", 404, &ae)
	if want := fmt.Sprintf("scrape http://<this host>:%d/metrics (--metrics-port)", grid.base+9); ae.Error.Code != "NotFound" || !strings.Contains(ae.Error.Message, want) {
		t.Errorf("GET /metrics on the API: %+v; want NotFound naming %q", ae, want)
	}
}

// scrape GETs url and returns the status and body.
func scrape(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestDataMetricsAndProbes(t *testing.T) {
	ctx := ctxT(t)
	plain := redis.NewClient(&redis.Options{Addr: grid.seed})
	defer plain.Close()
	_ = plain.Do(ctx, "NOSUCHCOMMAND").Err()
	httpAddr := fmt.Sprintf("http://127.0.0.1:%d", grid.base+1010)
	for _, p := range []string{"/livez", "/readyz"} {
		resp, err := http.Get(httpAddr + p)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", p, resp, err)
		}
		resp.Body.Close()
	}
	// The admin port no longer serves metrics, and says where they are.
	code, body := scrape(t, http.MethodGet, httpAddr+"/metrics")
	if want := fmt.Sprintf("scrape http://<this host>:%d/metrics (--metrics-port)", grid.base+2010); code != http.StatusNotFound || !strings.Contains(body, want) {
		t.Errorf("GET /metrics on the data HTTP port: %d %q; want 404 naming %q", code, body, want)
	}
	metricsAddr := fmt.Sprintf("http://127.0.0.1:%d", grid.base+2010)
	code, body = scrape(t, http.MethodGet, metricsAddr+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics on the data metrics port: %d %s", code, body)
	}
	for _, want := range []string{
		`insight_grid_commands_total{command="cluster|slots",result="ok"}`,
		`insight_grid_command_duration_seconds_bucket{command="get"`,
		`insight_grid_connected_clients`,
		`insight_grid_used_memory_bytes`,
		`insight_grid_keys`,
		`insight_grid_role{role="primary"} 1`,
		"insight_grid_ready 1",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("data /metrics lacks %s", want)
		}
	}
	// The metrics port serves /metrics and nothing else: not the probes, not the admin
	// endpoints, not a write.
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"HEAD", "/metrics", http.StatusOK},
		{"GET", "/readyz", http.StatusNotFound},
		{"GET", "/v1/status", http.StatusNotFound},
		{"POST", "/v1/handover", http.StatusNotFound},
		{"POST", "/metrics", http.StatusMethodNotAllowed},
	} {
		if code, body := scrape(t, c.method, metricsAddr+c.path); code != c.code {
			t.Errorf("%s %s on the data metrics port: %d %q; want %d", c.method, c.path, code, body, c.code)
		}
	}
	code, body = scrape(t, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/metrics", grid.base+9))
	if code != http.StatusOK {
		t.Fatalf("GET /metrics on the manager metrics port: %d %s", code, body)
	}
	for _, want := range []string{"insight_manager_ready 1", "insight_manager_has_leader 1", "insight_manager_is_leader 1", "etcd_server_has_leader 1"} {
		if !strings.Contains(body, want) {
			t.Errorf("manager /metrics lacks %s", want)
		}
	}
	if code, _ := scrape(t, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/v1/cluster", grid.base+9)); code != http.StatusNotFound {
		t.Errorf("GET /v1/cluster on the manager metrics port: %d; want 404", code)
	}
}
