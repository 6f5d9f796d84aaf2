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
// start (its port taken meanwhile) is started again on another port. extra are more
// command-line settings.
func startRedis(t *testing.T, extra ...string) *redis.Client {
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
		cmd.Args = append(cmd.Args, extra...)
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

// listElem draws list elements: repeats (for LREM, LPOS, LINSERT's pivot), integers, and
// long ones that fill a node (8 KiB) in a few pushes.
func listElem(rng *rand.Rand) string {
	switch rng.IntN(10) {
	case 0:
		return strings.Repeat("L", 1000+rng.IntN(9000))
	case 1, 2:
		return strconv.Itoa(rng.IntN(100))
	default:
		return fmt.Sprintf("e%d", rng.IntN(12))
	}
}

func TestListsAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	rng := rand.New(rand.NewPCG(5, 6))
	keys := []string{"{k}l0", "{k}l1", "{k}l2", "{k}str"}
	d.check(exact, "SET", "{k}str", "text")
	d.check(exact, "SET", "{k}text", "never a list")
	key := func() string { return keys[rng.IntN(len(keys))] }
	elems := func(n int) []string {
		var out []string
		for range n {
			out = append(out, listElem(rng))
		}
		return out
	}
	idx := func() string { return strconv.Itoa(rng.IntN(40) - 20) }
	side := func() string { return []string{"LEFT", "RIGHT", "left"}[rng.IntN(3)] }
	steps := 3000
	if testing.Short() {
		steps = 1000
	}
	for range steps {
		k := key()
		switch rng.IntN(24) {
		case 0, 1, 2:
			d.check(exact, append([]string{"LPUSH", k}, elems(1+rng.IntN(5))...)...)
		case 3, 4, 5:
			d.check(exact, append([]string{"RPUSH", k}, elems(1+rng.IntN(5))...)...)
		case 6:
			d.check(exact, append([]string{[]string{"LPUSHX", "RPUSHX"}[rng.IntN(2)], k}, elems(2)...)...)
		case 7:
			d.check(exact, append([]string{[]string{"LPUSH", "RPUSH"}[rng.IntN(2)], k}, elems(50+rng.IntN(300))...)...)
		case 8, 9:
			args := []string{[]string{"LPOP", "RPOP"}[rng.IntN(2)], k}
			if rng.IntN(2) == 0 {
				args = append(args, strconv.Itoa(rng.IntN(8)))
			}
			d.check(exact, args...)
		case 10:
			d.check(exact, "LLEN", k)
			d.check(exact, "TYPE", k)
		case 11:
			d.check(exact, "LRANGE", k, idx(), idx())
			d.check(exact, "LRANGE", k, "0", "-1")
		case 12:
			d.check(exact, "LINDEX", k, idx())
		case 13:
			d.check(exact, "LSET", k, idx(), listElem(rng))
		case 14:
			d.check(exact, "LINSERT", k, []string{"BEFORE", "AFTER"}[rng.IntN(2)], listElem(rng), listElem(rng))
		case 15:
			d.check(exact, "LREM", k, strconv.Itoa(rng.IntN(7)-3), listElem(rng))
		case 16:
			d.check(exact, "LTRIM", k, idx(), idx())
		case 17:
			args := []string{"LPOS", k, listElem(rng)}
			for _, opt := range []string{"RANK", "COUNT", "MAXLEN"} {
				if rng.IntN(2) == 0 {
					v := rng.IntN(6)
					if opt == "RANK" {
						v = rng.IntN(7) - 3
						if v == 0 {
							v = 1
						}
					}
					args = append(args, opt, strconv.Itoa(v))
				}
			}
			d.check(exact, args...)
		case 18:
			d.check(exact, "LMOVE", k, key(), side(), side())
		case 19:
			d.check(exact, "RPOPLPUSH", k, key())
		case 20:
			ks := []string{k, key()}
			args := append([]string{"LMPOP", "2"}, ks...)
			args = append(args, side())
			if rng.IntN(2) == 0 {
				args = append(args, "COUNT", strconv.Itoa(1+rng.IntN(5)))
			}
			d.check(exact, args...)
		case 21:
			if rng.IntN(4) == 0 {
				d.check(exact, "DEL", k)
			}
			d.check(exact, "SET", "{k}str", "text")
		case 22:
			d.check(exact, "EXPIRE", k, "1000")
			d.check(exact, "TTL", k)
		default:
			d.check(exact, diffListErrors[rng.IntN(len(diffListErrors))]...)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	for _, k := range keys {
		d.check(exact, "LRANGE", k, "0", "-1")
	}
	t.Logf("%d commands compared", d.n)
}

// diffListErrors are the list commands' error cases.
var diffListErrors = [][]string{
	{"LPUSH", "{k}l0"},
	{"LPUSH", "{k}text", "x"},
	{"LPUSHX", "{k}none", "x"},
	{"LPOP", "{k}l0", "-1"},
	{"LPOP", "{k}l0", "x"},
	{"LPOP", "{k}l0", "1", "2"},
	{"LPOP", "{k}none", "0"},
	{"LPOP", "{k}none", "2"},
	{"LPOP", "{k}text", "0"},
	{"RPOP", "{k}none"},
	{"LLEN", "{k}text"},
	{"LRANGE", "{k}l0", "x", "1"},
	{"LRANGE", "{k}none", "x", "1"},
	{"LRANGE", "{k}text", "0", "1"},
	{"LINDEX", "{k}l0", "x"},
	{"LINDEX", "{k}none", "x"},
	{"LINDEX", "{k}none", "0"},
	{"LSET", "{k}none", "0", "x"},
	{"LSET", "{k}none", "x", "x"},
	{"LSET", "{k}l0", "x", "x"},
	{"LSET", "{k}l0", "100000", "x"},
	{"LSET", "{k}text", "0", "x"},
	{"LINSERT", "{k}l0", "MIDDLE", "a", "b"},
	{"LINSERT", "{k}none", "BEFORE", "a", "b"},
	{"LINSERT", "{k}text", "BEFORE", "a", "b"},
	{"LREM", "{k}l0", "x", "a"},
	{"LREM", "{k}none", "x", "a"},
	{"LREM", "{k}none", "0", "a"},
	{"LTRIM", "{k}l0", "x", "1"},
	{"LTRIM", "{k}none", "0", "1"},
	{"LTRIM", "{k}text", "0", "1"},
	{"LPOS", "{k}l0", "a", "RANK", "0"},
	{"LPOS", "{k}l0", "a", "RANK", "x"},
	{"LPOS", "{k}l0", "a", "RANK", "-9223372036854775808"},
	{"LPOS", "{k}l0", "a", "COUNT", "-1"},
	{"LPOS", "{k}l0", "a", "COUNT", "x"},
	{"LPOS", "{k}l0", "a", "MAXLEN", "-1"},
	{"LPOS", "{k}l0", "a", "MAXLEN"},
	{"LPOS", "{k}l0", "a", "FOO", "1"},
	{"LPOS", "{k}none", "a"},
	{"LPOS", "{k}none", "a", "COUNT", "0"},
	{"LPOS", "{k}text", "a"},
	{"LMOVE", "{k}l0", "{k}l1", "UP", "LEFT"},
	{"LMOVE", "{k}l0", "{j}l1", "LEFT", "LEFT"},
	{"LMOVE", "{k}none", "{k}text", "LEFT", "LEFT"},
	{"LMOVE", "{k}text", "{k}l0", "LEFT", "LEFT"},
	{"RPOPLPUSH", "{k}none", "{k}l0"},
	{"LMPOP", "0", "{k}l0", "LEFT"},
	{"LMPOP", "x", "{k}l0", "LEFT"},
	{"LMPOP", "2", "{k}l0", "LEFT"},
	{"LMPOP", "3", "{k}l0", "{k}l1", "LEFT"},
	{"LMPOP", "1", "{k}l0", "UP"},
	{"LMPOP", "1", "{k}l0", "LEFT", "COUNT", "0"},
	{"LMPOP", "1", "{k}l0", "LEFT", "COUNT"},
	{"LMPOP", "1", "{k}l0", "LEFT", "COUNT", "1", "COUNT", "1"},
	{"LMPOP", "2", "{k}l0", "{j}l1", "LEFT"},
	{"LMPOP", "2", "{k}none", "{k}text", "LEFT"},
	{"LMPOP", "1", "{k}none", "RIGHT"},
}
