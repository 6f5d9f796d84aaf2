package itest

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/internal/testutil"
)

// unionLib merges two versions of a key holding comma-separated tokens into their
// sorted union (commutative, associative, idempotent: the sites converge).
const unionLib = `#!lua name=wanres
local function split(s, into)
  for tok in string.gmatch(s, '[^,]+') do into[tok] = true end
end
redis.register_function('union', function(keys, args)
  local set = {}
  if args[4] == '1' then split(args[1], set) end
  if args[8] == '1' then split(args[5], set) end
  local out = {}
  for tok in pairs(set) do table.insert(out, tok) end
  if #out == 0 then return false end
  table.sort(out)
  return table.concat(out, ',')
end)
`

// TestConflictPoliciesConvergeAcrossTwoSites runs two sites with the same --wan-policy
// rules and races writes of each policy's keys at both. "Concurrent" is made certain by
// stopping one site's gateway (its local process) while both write, so neither site has
// the other's write before its own.
func TestConflictPoliciesConvergeAcrossTwoSites(t *testing.T) {
	sp := specs(t, "ny", "ldn")
	policies := []string{"--wan-policy", "cnt:*=pn-counter", "--wan-policy", "s:*=add-wins",
		"--wan-policy", "p:*=priority:ny>ldn", "--wan-policy", "u:*=lua:union"}
	sp[0].partitions, sp[1].partitions = 2, 3
	sp[0].args, sp[1].args = policies, policies
	ny, ldn := start(t, sp[0], sp), start(t, sp[1], sp)
	ctx := ctxFor(t, 4*time.Minute)
	both := []*site{ny, ldn}

	t.Run("pn-counter sums concurrent INCRBY", func(t *testing.T) {
		keys := []string{"cnt:0", "cnt:1", "cnt:2", "cnt:3"}
		var mu sync.Mutex
		sum := map[string]int64{}
		var wg sync.WaitGroup
		for _, s := range both {
			for g := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := rand.New(rand.NewPCG(uint64(g), uint64(len(s.name))))
					for i := range 150 {
						k, d := keys[i%len(keys)], int64(r.IntN(16)-5)
						if err := s.rdb.IncrBy(ctx, k, d).Err(); err != nil {
							t.Errorf("INCRBY %s %d at %s: %v", k, d, s.name, err)
							return
						}
						mu.Lock()
						sum[k] += d
						mu.Unlock()
					}
				}()
			}
		}
		wg.Wait()
		want := map[string]string{}
		for _, k := range keys {
			want[k] = fmt.Sprint(sum[k])
		}
		eventuallyHold(t, ctx, both, want)
	})

	t.Run("add-wins keeps a member re-added while the other site removes it", func(t *testing.T) {
		var all []any
		for i := range 20 {
			all = append(all, fmt.Sprintf("m%d", i))
		}
		if err := ny.rdb.SAdd(ctx, "s:1", all...).Err(); err != nil {
			t.Fatal(err)
		}
		eventuallyMembers(t, ctx, both, "s:1", all)
		ny.signal(t, syscall.SIGSTOP)
		stopped := true
		defer func() {
			if stopped {
				ny.signal(t, syscall.SIGCONT)
			}
		}()
		if err := ny.rdb.SRem(ctx, "s:1", all...).Err(); err != nil {
			t.Fatal(err)
		}
		var want []any
		for i := 0; i < 20; i += 2 {
			m := fmt.Sprintf("m%d", i)
			if err := ldn.rdb.SRem(ctx, "s:1", m).Err(); err != nil {
				t.Fatal(err)
			}
			if err := ldn.rdb.SAdd(ctx, "s:1", m).Err(); err != nil {
				t.Fatal(err)
			}
			want = append(want, m)
		}
		if err := ldn.rdb.SAdd(ctx, "s:1", "fresh").Err(); err != nil {
			t.Fatal(err)
		}
		want = append(want, "fresh")
		ny.signal(t, syscall.SIGCONT)
		stopped = false
		eventuallyMembers(t, ctx, both, "s:1", want)
	})

	t.Run("priority keeps the higher site's write", func(t *testing.T) {
		ny.signal(t, syscall.SIGSTOP)
		if err := ny.rdb.Set(ctx, "p:1", "from-ny", 0).Err(); err != nil {
			ny.signal(t, syscall.SIGCONT)
			t.Fatal(err)
		}
		if err := ldn.rdb.Set(ctx, "p:1", "from-ldn", 0).Err(); err != nil {
			ny.signal(t, syscall.SIGCONT)
			t.Fatal(err)
		}
		ny.signal(t, syscall.SIGCONT)
		eventuallyHold(t, ctx, both, map[string]string{"p:1": "from-ny"})
		// A write at the lower site over the higher one's value is undone there.
		if err := ldn.rdb.Set(ctx, "p:1", "ldn-again", 0).Err(); err != nil {
			t.Fatal(err)
		}
		eventuallyHold(t, ctx, both, map[string]string{"p:1": "from-ny"})
	})

	t.Run("a Lua resolver merges both versions", func(t *testing.T) {
		for _, s := range both {
			err := s.rdb.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
				return c.FunctionLoadReplace(ctx, unionLib).Err()
			})
			if err != nil {
				t.Fatalf("FUNCTION LOAD at %s: %v", s.name, err)
			}
		}
		ny.signal(t, syscall.SIGSTOP)
		errNY := ny.rdb.Set(ctx, "u:1", "b,a", 0).Err()
		errLDN := ldn.rdb.Set(ctx, "u:1", "c", 0).Err()
		ny.signal(t, syscall.SIGCONT)
		if errNY != nil || errLDN != nil {
			t.Fatal(errNY, errLDN)
		}
		eventuallyHold(t, ctx, both, map[string]string{"u:1": "a,b,c"})
	})

	t.Run("lists sorted sets and streams replicate whole", func(t *testing.T) {
		if err := ldn.rdb.RPush(ctx, "l:1", "x", "y", "z").Err(); err != nil {
			t.Fatal(err)
		}
		if err := ldn.rdb.LPush(ctx, "l:1", "w").Err(); err != nil {
			t.Fatal(err)
		}
		if err := ldn.rdb.ZAdd(ctx, "z:1", redis.Z{Score: 2, Member: "b"}, redis.Z{Score: -1.5, Member: "a"}).Err(); err != nil {
			t.Fatal(err)
		}
		if err := ldn.rdb.XAdd(ctx, &redis.XAddArgs{Stream: "x:1", ID: "5-1", Values: []string{"f", "v"}}).Err(); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 30*time.Second, "ny holding ldn's list, sorted set and stream", func() bool {
			l, err1 := ny.rdb.LRange(ctx, "l:1", 0, -1).Result()
			z, err2 := ny.rdb.ZRangeWithScores(ctx, "z:1", 0, -1).Result()
			x, err3 := ny.rdb.XRange(ctx, "x:1", "-", "+").Result()
			return err1 == nil && err2 == nil && err3 == nil &&
				strings.Join(l, ",") == "w,x,y,z" &&
				fmt.Sprint(z) == fmt.Sprint([]redis.Z{{Score: -1.5, Member: "a"}, {Score: 2, Member: "b"}}) &&
				len(x) == 1 && x[0].ID == "5-1"
		})
	})

	for _, s := range both {
		st, err := s.primaryStatus(0)
		if err != nil {
			t.Fatal(err)
		}
		if st.PolicyMismatches != 0 || len(st.Unsupported) != 0 || st.Policies == "" {
			t.Errorf("site %s: policies %q, mismatches %d, unsupported %v; want a fingerprint and none", s.name, st.Policies, st.PolicyMismatches, st.Unsupported)
		}
	}

	// Changes from a site whose rules differ are refused, counted.
	tok, err := os.ReadFile(filepath.Join(ny.dir, "operator-token"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/v1/wan/apply", ny.base+1010),
		strings.NewReader(`{"changes":[{"k":"Zm9v","h":1,"s":"ldn"}],"policies":"0123456789abcdef"}`))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), "PolicyMismatch") || !strings.Contains(string(body), "--wan-policy") {
		t.Fatalf("a change from a site with other policies: %d %s; want 409 PolicyMismatch naming --wan-policy", resp.StatusCode, body)
	}
	if st, err := ny.status(0, 0); err != nil || st.PolicyMismatches != 1 {
		t.Fatalf("ny's partition 0 after the refusal: mismatches %d (%v), want 1", st.PolicyMismatches, err)
	}
}

// TestMergeStatesSurviveAFailoverOfTheSourcePrimary kills a site's primary while its
// counter increments and set adds wait in the outbox (the other site's gateway stopped):
// the promoted backup holds the merge states, sends them, and both sites converge on the
// exact sums.
func TestMergeStatesSurviveAFailoverOfTheSourcePrimary(t *testing.T) {
	sp := specs(t, "sea", "tyo")
	policies := []string{"--wan-policy", "cnt:*=pn-counter", "--wan-policy", "s:*=add-wins"}
	sp[0].ha, sp[0].args, sp[1].args = true, policies, policies
	a, b := start(t, sp[0], sp), start(t, sp[1], sp)
	ctx := ctxFor(t, 4*time.Minute)
	testutil.Eventually(t, 30*time.Second, "sea's partition with an in-sync backup", func() bool {
		ps, err := a.mgr.Partitions(ctx)
		return err == nil && len(ps) == 1 && ps[0].InSync && ps[0].Backup != ""
	})
	b.signal(t, syscall.SIGSTOP) // tyo's gateway stops: nothing goes either way
	stopped := true
	defer func() {
		if stopped {
			b.signal(t, syscall.SIGCONT)
		}
	}()
	want := map[string]string{}
	for i := range 10 {
		k := fmt.Sprintf("cnt:%d", i)
		for range 3 {
			if err := a.rdb.IncrBy(ctx, k, int64(i+1)).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.rdb.IncrBy(ctx, k, 100).Err(); err != nil {
			t.Fatal(err)
		}
		want[k] = fmt.Sprint(3*(i+1) + 100)
	}
	if err := a.rdb.SAdd(ctx, "s:f", "from-sea").Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.rdb.SAdd(ctx, "s:f", "from-tyo").Err(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(a.pids["p0-i0"], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 60*time.Second, "sea's backup serving as primary", func() bool {
		ps, err := a.mgr.Partitions(ctx)
		return err == nil && len(ps) == 1 && ps[0].Primary == "p0-i1"
	})
	b.signal(t, syscall.SIGCONT)
	stopped = false
	eventuallyHold(t, ctx, []*site{a, b}, want)
	eventuallyMembers(t, ctx, []*site{a, b}, "s:f", []any{"from-sea", "from-tyo"})
}

// eventuallyHold waits (up to a minute) until every site holds the string values of want.
func eventuallyHold(t *testing.T, ctx context.Context, sites []*site, want map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var last string
	for ctx.Err() == nil {
		ok := true
		last = ""
		for _, s := range sites {
			got, err := s.values(ctx, keys)
			if err != nil {
				ok, last = false, err.Error()
				break
			}
			for _, k := range keys {
				if got[k] != want[k] {
					ok = false
					last += fmt.Sprintf("%s holds %s=%q; ", s.name, k, got[k])
				}
			}
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("the sites did not converge on %v: %s", want, last)
}

// eventuallyMembers waits (up to a minute) until every site's set key holds exactly want.
func eventuallyMembers(t *testing.T, ctx context.Context, sites []*site, key string, want []any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var ws []string
	for _, m := range want {
		ws = append(ws, m.(string))
	}
	slices.Sort(ws)
	var last string
	for ctx.Err() == nil {
		ok := true
		for _, s := range sites {
			got, err := s.rdb.SMembers(ctx, key).Result()
			slices.Sort(got)
			if err != nil || !slices.Equal(got, ws) {
				ok, last = false, fmt.Sprintf("%s holds %v (%v)", s.name, got, err)
				break
			}
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("the sites' %s did not converge on %v: %s", key, ws, last)
}
