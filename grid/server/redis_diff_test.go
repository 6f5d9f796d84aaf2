package server

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/internal/ports"
	"github.com/insightgrid/insight/grid/internal/testutil"
)

// The differential tests run random command sequences against redis-server (Debian's 7.0,
// which ci/tools.sh installs; the tests skip without it) in cluster mode with every slot on
// one node, and against the grid, comparing every reply. Each command has a comparison
// class: exact, as a multiset (member order is the encoding's), or shape only (random
// picks), after which the key is made the same again on Redis.

// compareClass is how two replies of one command are compared.
type compareClass uint8

const (
	exact    compareClass = iota
	multiset              // an array compared as a multiset
	shape                 // the same kind of reply with as many elements
	scanAll               // a whole SSCAN iteration (argument 2 is the cursor), as a set of members
)

// startRedis starts redis-server on a free loopback port in cluster mode, every slot
// added, and returns a client; it is stopped when the test ends. A server that exits at
// start (its port taken meanwhile) is started again on another port.
func startRedis(t *testing.T) *redis.Client {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (ci/tools.sh installs it)")
	}
	ctx := context.Background()
	for attempt := 0; ; attempt++ {
		// The cluster bus listens on port+10000.
		port, err := ports.FreeBase("127.0.0.1", []int{0, 10000}, 55000)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		logFile := filepath.Join(dir, "redis.log")
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"), "--dir", dir,
			"--logfile", logFile)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(exited)
		}()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
		rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), Protocol: 2, MaxRetries: -1})
		t.Cleanup(func() { rdb.Close() })
		up := false
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !up; {
			select {
			case <-exited:
				deadline = time.Time{}
			case <-time.After(20 * time.Millisecond):
				up = rdb.Ping(ctx).Err() == nil
			}
		}
		if !up {
			log, _ := os.ReadFile(logFile)
			if attempt < 2 {
				t.Logf("redis-server on port %d did not start, trying another port; its log:\n%s", port, log)
				continue
			}
			t.Fatalf("redis-server did not start; its log:\n%s", log)
		}
		if err := rdb.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", "0", "16383").Err(); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 10*time.Second, "redis cluster ok", func() bool {
			info, _ := rdb.ClusterInfo(ctx).Result()
			return strings.Contains(info, "cluster_state:ok")
		})
		return rdb
	}
}

// diffRun sends the same commands to Redis and to the grid.
type diffRun struct {
	t           *testing.T
	redis, grid *redis.Client
	n           int
}

func newDiffRun(t *testing.T) *diffRun {
	rdb := startRedis(t)
	_, dial := startServer(t, Config{Replication: Standalone{}})
	addr := dial().nc.RemoteAddr().String()
	grid := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, MaxRetries: -1})
	t.Cleanup(func() { grid.Close() })
	return &diffRun{t: t, redis: rdb, grid: grid}
}

func do(c *redis.Client, args []string) (any, error) {
	a := make([]any, len(args))
	for i, s := range args {
		a[i] = s
	}
	v, err := c.Do(context.Background(), a...).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return v, err
}

// sorted renders a reply with its top-level array sorted.
func sorted(v any) any {
	arr, ok := v.([]any)
	if !ok {
		return v
	}
	out := make([]string, len(arr))
	for i, x := range arr {
		out[i] = fmt.Sprint(x)
	}
	slices.Sort(out)
	return out
}

// scan iterates a whole SSCAN-family command (args[2] is the cursor) and returns the
// distinct elements it saw, sorted.
func scan(c *redis.Client, args []string) (any, error) {
	seen := map[string]bool{}
	args = slices.Clone(args)
	for range 100_000 {
		v, err := do(c, args)
		if err != nil {
			return nil, err
		}
		page := v.([]any)
		for _, x := range page[1].([]any) {
			seen[fmt.Sprint(x)] = true
		}
		if args[2] = page[0].(string); args[2] == "0" {
			break
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out, nil
}

// check sends args to both and compares the replies as class says; it reports whether
// they agreed.
func (d *diffRun) check(class compareClass, args ...string) (grid any, ok bool) {
	d.t.Helper()
	d.n++
	var want, got any
	var werr, gerr error
	if class == scanAll {
		want, werr = scan(d.redis, args)
		got, gerr = scan(d.grid, args)
	} else {
		want, werr = do(d.redis, args)
		got, gerr = do(d.grid, args)
	}
	if werr != nil || gerr != nil {
		if fmt.Sprint(werr) != fmt.Sprint(gerr) {
			d.t.Errorf("command %d %q:\nredis: error %v\n grid: %v %v", d.n, args, werr, got, gerr)
			return got, false
		}
		return got, true
	}
	switch class {
	case multiset:
		want, got = sorted(want), sorted(got)
	case shape:
		wa, wok := want.([]any)
		ga, gok := got.([]any)
		if wok || gok {
			want, got = fmt.Sprintf("array of %d", len(wa)), fmt.Sprintf("array of %d", len(ga))
		} else {
			want, got = reflect.TypeOf(want), reflect.TypeOf(got)
		}
	}
	if !reflect.DeepEqual(want, got) {
		d.t.Errorf("command %d %q:\nredis: %v\n grid: %v", d.n, args, want, got)
		return got, false
	}
	return got, true
}

// resyncSet makes the set at key on Redis what the grid holds (after a random pop).
func (d *diffRun) resyncSet(key string) {
	d.t.Helper()
	if kind, _ := do(d.grid, []string{"TYPE", key}); kind != "set" && kind != "none" {
		return
	}
	members, err := do(d.grid, []string{"SMEMBERS", key})
	if err != nil {
		d.t.Fatalf("SMEMBERS %s on the grid: %v", key, err)
	}
	if _, err := do(d.redis, []string{"DEL", key}); err != nil {
		d.t.Fatal(err)
	}
	if arr := members.([]any); len(arr) > 0 {
		args := []string{"SADD", key}
		for _, m := range arr {
			args = append(args, m.(string))
		}
		if _, err := do(d.redis, args); err != nil {
			d.t.Fatal(err)
		}
	}
}

// setMember draws members that cross the encodings' limits: small integers (an intset),
// short strings (a listpack), 65-byte strings (a table).
func setMember(rng *rand.Rand) string {
	switch rng.IntN(10) {
	case 0, 1, 2, 3:
		return strconv.Itoa(rng.IntN(700) - 50)
	case 4:
		return fmt.Sprintf("%065d", rng.IntN(20))
	case 5:
		return []string{"-0", "01", "+1", "9223372036854775808", "-9223372036854775808", ""}[rng.IntN(6)]
	default:
		return fmt.Sprintf("m%d", rng.IntN(200))
	}
}

func TestSetsAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	rng := rand.New(rand.NewPCG(3, 4))
	keys := []string{"{k}s0", "{k}s1", "{k}s2", "{k}s3", "{k}str"}
	d.check(exact, "SET", "{k}str", "text")
	d.check(exact, "SET", "{k}text", "never a set") // what diffSetErrors find
	key := func() string { return keys[rng.IntN(len(keys))] }
	some := func(n int) []string {
		var out []string
		for range 1 + rng.IntN(n) {
			out = append(out, key())
		}
		return out
	}
	members := func(n int) []string {
		var out []string
		for range n {
			out = append(out, setMember(rng))
		}
		return out
	}
	steps := 3000
	if testing.Short() {
		steps = 1000
	}
	for range steps {
		k := key()
		switch rng.IntN(22) {
		case 0, 1, 2:
			d.check(exact, append([]string{"SADD", k}, members(1+rng.IntN(6))...)...)
		case 3:
			d.check(exact, append([]string{"SADD", k}, members(100+rng.IntN(500))...)...)
		case 4:
			d.check(exact, append([]string{"SREM", k}, members(1+rng.IntN(30))...)...)
		case 5:
			d.check(multiset, "SMEMBERS", k)
		case 6:
			d.check(exact, "SISMEMBER", k, setMember(rng))
			d.check(exact, append([]string{"SMISMEMBER", k}, members(3)...)...)
		case 7:
			d.check(exact, "SCARD", k)
			d.check(exact, "TYPE", k)
		case 8:
			args := []string{"SPOP", k}
			if rng.IntN(2) == 0 {
				args = append(args, strconv.Itoa(rng.IntN(12)-1))
			}
			if _, ok := d.check(shape, args...); ok {
				d.resyncSet(k)
			}
		case 9:
			args := []string{"SRANDMEMBER", k}
			if rng.IntN(3) > 0 {
				args = append(args, strconv.Itoa(rng.IntN(40)-20))
			}
			d.check(shape, args...)
		case 10:
			d.check(exact, "SMOVE", k, key(), setMember(rng))
		case 11:
			d.check(multiset, append([]string{"SINTER"}, some(3)...)...)
		case 12:
			d.check(multiset, append([]string{"SUNION"}, some(3)...)...)
		case 13:
			d.check(multiset, append([]string{"SDIFF"}, some(3)...)...)
		case 14:
			ks := some(3)
			args := append([]string{"SINTERCARD", strconv.Itoa(len(ks))}, ks...)
			if rng.IntN(2) == 0 {
				args = append(args, "LIMIT", strconv.Itoa(rng.IntN(5)))
			}
			d.check(exact, args...)
		case 15:
			op := []string{"SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"}[rng.IntN(3)]
			d.check(exact, append([]string{op, k}, some(3)...)...)
		case 16:
			args := []string{"SSCAN", k, "0", "COUNT", strconv.Itoa(1 + rng.IntN(20))}
			if rng.IntN(2) == 0 {
				args = append(args, "MATCH", "*1*")
			}
			d.check(scanAll, args...)
		case 17:
			if rng.IntN(4) == 0 {
				d.check(exact, "DEL", k)
			}
			d.check(exact, "SET", "{k}str", "text")
		case 18:
			d.check(exact, "EXPIRE", k, "1000")
			d.check(exact, "TTL", k)
		default:
			d.check(exact, diffSetErrors[rng.IntN(len(diffSetErrors))]...)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	for _, k := range keys {
		d.check(multiset, "SMEMBERS", k)
	}
	t.Logf("%d commands compared", d.n)
}

// diffSetErrors are the set commands' error cases: arity, syntax, ranges, slots, types.
var diffSetErrors = [][]string{
	{"SADD", "{k}s0"},
	{"SREM", "{k}s0"},
	{"SMEMBERS"},
	{"SISMEMBER", "{k}s0"},
	{"SMISMEMBER", "{k}s0"},
	{"SPOP", "{k}s0", "-1"},
	{"SPOP", "{k}s0", "x"},
	{"SPOP", "{k}s0", "1", "2"},
	{"SPOP", "{k}text", "0"},
	{"SPOP", "{k}none", "0"},
	{"SPOP", "{k}none"},
	{"SRANDMEMBER", "{k}s0", "x"},
	{"SRANDMEMBER", "{k}s0", "-9223372036854775808"},
	{"SRANDMEMBER", "{k}s0", "1", "2"},
	{"SRANDMEMBER", "{k}none", "5"},
	{"SRANDMEMBER", "{k}none"},
	{"SRANDMEMBER", "{k}text", "0"},
	{"SMOVE", "{k}s0", "{j}s1", "x"},
	{"SMOVE", "{k}none", "{k}text", "x"},
	{"SMOVE", "{k}text", "{k}s0", "x"},
	{"SINTER", "{k}s0", "{j}s1"},
	{"SINTER", "{k}none", "{k}text"},
	{"SUNION", "{k}text"},
	{"SDIFF", "{k}none", "{k}text"},
	{"SINTERSTORE", "{k}s0"},
	{"SINTERSTORE", "{k}d", "{j}x"},
	{"SINTERCARD", "0", "{k}s0"},
	{"SINTERCARD", "x", "{k}s0"},
	{"SINTERCARD", "3", "{k}s0"},
	{"SINTERCARD", "1", "{k}s0", "LIMIT"},
	{"SINTERCARD", "1", "{k}s0", "LIMIT", "-1"},
	{"SINTERCARD", "1", "{k}s0", "FOO", "1"},
	{"SINTERCARD", "2", "{k}s0", "{j}s1"},
	{"SINTERCARD", "1", "{k}text"},
	{"SSCAN", "{k}s0", "x"},
	{"SSCAN", "{k}s0", "0", "COUNT", "0"},
	{"SSCAN", "{k}s0", "0", "COUNT", "x"},
	{"SSCAN", "{k}s0", "0", "MATCH"},
	{"SSCAN", "{k}s0", "0", "TYPE", "set"},
	{"SSCAN", "{k}none", "0", "FOO"},
	{"SSCAN", "{k}text", "0"},
	{"SSCAN", "{k}none", "-1"},
	{"SSCAN", "{k}text", "-1"},
	{"SSCAN", "{k}text", "18446744073709551615"},
	{"SSCAN", "{k}none", "+0"},
	{"SSCAN", "{k}none", ""},
	{"SSCAN", "{k}s0", "-"},
	{"SSCAN", "{k}s0", " 1"},
	{"SSCAN", "{k}s0", "1 "},
	{"SSCAN", "{k}s0", "18446744073709551616"},
}
