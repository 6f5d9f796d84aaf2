package wan

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/rdb"
	"github.com/insightgrid/insight/grid/slots"
	"github.com/insightgrid/insight/grid/store"
)

var siteNames = []string{"a", "b", "c"}

// mesh is three sites replicating to each other with the same policies.
type mesh map[string]*site

func newMesh(t *testing.T, specs ...string) mesh {
	t.Helper()
	rules, err := ParseRules(specs)
	if err != nil {
		t.Fatal(err)
	}
	m := mesh{}
	for _, n := range siteNames {
		m[n] = newSite(t, n, func(c *Config) { c.Policies = rules }, others(n)...)
	}
	return m
}

// settle delivers every site's outbox to the others until nothing is left to send. Each
// round pulls every batch first, then delivers them: order's bits say, per destination,
// which of its two sources arrives first; every batch is delivered a second time (the
// gateway's redelivery) before it is acknowledged.
func (m mesh) settle(t *testing.T, order int) {
	t.Helper()
	for range 6 {
		type delivery struct {
			src *site
			b   Batch
		}
		in := map[string][]delivery{}
		sent := false
		for _, src := range siteNames {
			for _, dst := range others(src) {
				b := m[src].pull(t, dst)
				sent = sent || len(b.Changes) > 0
				in[dst] = append(in[dst], delivery{m[src], b})
			}
		}
		if !sent {
			return
		}
		for i, dst := range siteNames {
			ds := in[dst]
			if order&(1<<i) != 0 {
				slices.Reverse(ds)
			}
			for pass := range 2 {
				for _, d := range ds {
					if err := m[dst].tr.CheckPolicies(d.b.Site, d.b.Policies); err != nil {
						t.Fatal(err)
					}
					for _, c := range d.b.Changes {
						if _, err := m[dst].tr.ApplyRemote(c, exclusive, m[dst].rec); err != nil {
							t.Fatalf("pass %d: %v", pass, err)
						}
					}
				}
				slices.Reverse(ds)
			}
			for _, d := range ds {
				if err := d.src.tr.Ack(dst, d.b.Upto, d.src.rec); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	t.Fatal("the sites still send changes after 6 rounds")
}

// converged checks that every site holds key as want describes (dump: the value TYPE-
// independent, via describe) and the same merge state, and that each site's backup —
// by replaying its stream, and from a snapshot — holds the same.
// snapshot false skips the snapshot backup (its cost is every slot's dump).
func (m mesh) converged(t *testing.T, key string, want string, describe func(*site) string, snapshot bool) {
	t.Helper()
	var state []byte
	for i, n := range siteNames {
		s := m[n]
		if got := describe(s); got != want {
			t.Fatalf("site %s holds %s=%s, want %s", n, key, got, want)
		}
		st := s.state(key)
		if i > 0 && !bytes.Equal(st, state) {
			t.Fatalf("site %s's merge state of %s differs from site a's:\n%x\n%x", n, key, st, state)
		}
		state = st
		backups := []*site{s.backup(t)}
		if snapshot {
			backups = append(backups, s.snapshot(t))
		}
		for _, b := range backups {
			if got := describe(b); got != want {
				t.Fatalf("site %s's backup holds %s=%s, want %s", n, key, got, want)
			}
			if !bytes.Equal(b.state(key), st) {
				t.Fatalf("site %s's backup holds the merge state\n%x\nthe primary\n%x", n, b.state(key), st)
			}
		}
	}
}

func (s *site) state(key string) []byte {
	s.tr.mu.Lock()
	defer s.tr.mu.Unlock()
	if st := s.tr.states[slots.Of([]byte(key))][key]; st != nil {
		return st.encode(nil)
	}
	return nil
}

// snapshot is a backup loaded from a snapshot of s (every slot's keys, then its WAN
// operations).
func (s *site) snapshot(t *testing.T) *site {
	t.Helper()
	b := &site{st: store.New(1 << 20)}
	cfg := s.tr.cfg
	cfg.Store = b.st
	b.tr = NewTracker(cfg)
	for slot := range slots.Count {
		s.st.DumpSlot(slot, func(op []byte) {
			if err := b.st.Apply(op); err != nil {
				t.Fatal(err)
			}
		})
		s.tr.DumpSlot(slot, func(op []byte) {
			if err := b.tr.ApplyOp(op); err != nil {
				t.Fatal(err)
			}
		})
	}
	return b
}

func str(key string) func(*site) string {
	return func(s *site) string {
		v, ok, err := s.st.Get(nil, []byte(key))
		if err != nil {
			return "error " + err.Error()
		}
		if !ok {
			return "(none)"
		}
		return string(v)
	}
}

func members(key string) func(*site) string {
	return func(s *site) string {
		ms, err := s.st.SMembers([]byte(key))
		if err != nil {
			return "error " + err.Error()
		}
		var out []string
		for _, m := range ms {
			out = append(out, string(m))
		}
		slices.Sort(out)
		return "{" + strings.Join(out, ",") + "}"
	}
}

func (s *site) incr(t *testing.T, key string, d int64) {
	t.Helper()
	if _, err := s.st.IncrBy([]byte(key), d); err != nil {
		t.Fatal(err)
	}
}

func bs(vs ...string) [][]byte {
	var out [][]byte
	for _, v := range vs {
		out = append(out, []byte(v))
	}
	return out
}

func TestCounterConvergesToTheSumOfEverySitesIncrements(t *testing.T) {
	for order := range 8 {
		m := newMesh(t, "cnt:*=pn-counter")
		m["a"].incr(t, "cnt:1", 5)
		m["a"].incr(t, "cnt:1", 1)
		m["b"].incr(t, "cnt:1", 7)
		m["c"].incr(t, "cnt:1", -2)
		m.settle(t, order)
		m.converged(t, "cnt:1", "11", str("cnt:1"), order == 0)

		// A SET is an increment by the difference; the concurrent increments elsewhere
		// still add up.
		m["b"].set(t, "cnt:1", "100")
		m["c"].incr(t, "cnt:1", 3)
		m.settle(t, order)
		m.converged(t, "cnt:1", "103", str("cnt:1"), order == 0)

		// A deletion cancels the increments it observed; one it did not see survives.
		m["a"].st.Del([]byte("cnt:1"))
		m["b"].incr(t, "cnt:1", 4)
		m.settle(t, order)
		m.converged(t, "cnt:1", "4", str("cnt:1"), order == 0)

		m["c"].st.Del([]byte("cnt:1"))
		m.settle(t, order)
		m.converged(t, "cnt:1", "(none)", str("cnt:1"), order == 0)
		m["a"].incr(t, "cnt:1", 1)
		m.settle(t, order)
		m.converged(t, "cnt:1", "1", str("cnt:1"), order == 0)
	}
}

func TestAddWinsKeepsAMemberAddedWhileAnotherSiteRemovesIt(t *testing.T) {
	for order := range 8 {
		m := newMesh(t, "s:*=add-wins")
		if _, err := m["a"].st.SAdd([]byte("s:1"), bs("x", "y", "z")); err != nil {
			t.Fatal(err)
		}
		m.settle(t, order)
		m.converged(t, "s:1", "{x,y,z}", members("s:1"), order == 0)

		// Concurrently: a removes x, b removes and adds x again (an SADD of a member
		// the set holds is no write), c removes y and adds w.
		if _, err := m["a"].st.SRem([]byte("s:1"), bs("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := m["b"].st.SRem([]byte("s:1"), bs("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := m["b"].st.SAdd([]byte("s:1"), bs("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := m["c"].st.SRem([]byte("s:1"), bs("y")); err != nil {
			t.Fatal(err)
		}
		if _, err := m["c"].st.SAdd([]byte("s:1"), bs("w")); err != nil {
			t.Fatal(err)
		}
		m.settle(t, order)
		m.converged(t, "s:1", "{w,x,z}", members("s:1"), order == 0)

		// A deletion removes what it saw; a concurrent add stays alone.
		m["a"].st.Del([]byte("s:1"))
		if _, err := m["c"].st.SAdd([]byte("s:1"), bs("v")); err != nil {
			t.Fatal(err)
		}
		m.settle(t, order)
		m.converged(t, "s:1", "{v}", members("s:1"), order == 0)
	}
}

func TestPriorityKeepsTheHigherSitesWriteWhateverTheTimestamps(t *testing.T) {
	for order := range 8 {
		m := newMesh(t, "p:*=priority:c>a")
		m["a"].set(t, "p:1", "from-a")
		m["b"].set(t, "p:1", "from-b") // later, but b is not listed: the lowest
		m.settle(t, order)
		m.converged(t, "p:1", "from-a", str("p:1"), order == 0)

		// b writes over a's value it holds: a sends its value again, which wins.
		m["b"].set(t, "p:1", "b-again")
		m.settle(t, order)
		m.converged(t, "p:1", "from-a", str("p:1"), order == 0)

		m["a"].set(t, "p:1", "a-later")
		m["c"].set(t, "p:1", "from-c")
		m["a"].set(t, "p:1", "a-latest")
		m.settle(t, order)
		m.converged(t, "p:1", "from-c", str("p:1"), order == 0)

		// Keys no rule matches stay last-writer-wins.
		m["c"].set(t, "other", "from-c")
		m.settle(t, order)
		m["b"].set(t, "other", "from-b")
		m.settle(t, order)
		m.converged(t, "other", "from-b", str("other"), order == 0)
	}
}

// unionLib's function merges two comma-separated lists of tokens into their sorted
// union: commutative, associative and idempotent, so the sites converge.
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

func TestLuaResolverMergesBothVersions(t *testing.T) {
	for order := range 8 {
		m := newMesh(t, "u:*=lua:union")
		for _, n := range siteNames {
			m[n].st.SetFunctions(rdb.EncodeFunctions([]string{unionLib}))
		}
		m["a"].set(t, "u:1", "x")
		m["b"].set(t, "u:1", "y,q")
		m["c"].set(t, "u:1", "z")
		m.settle(t, order)
		m.converged(t, "u:1", "q,x,y,z", str("u:1"), order == 0)
	}
	// Not loaded at a site: the change is refused, naming the function.
	m := newMesh(t, "u:*=lua:union")
	m["a"].set(t, "u:1", "x")
	c := m["a"].pull(t, "b").Changes[0]
	if _, err := m["b"].tr.ApplyRemote(c, exclusive, m["b"].rec); err == nil || !strings.Contains(err.Error(), `function "union" is not loaded`) {
		t.Fatalf("without the function: %v", err)
	}
}

func TestWritesAPolicyCannotTakeAreCountedNotSent(t *testing.T) {
	m := newMesh(t, "cnt:*=pn-counter", "s:*=add-wins")
	m["a"].set(t, "cnt:1", "not-a-number")
	m["a"].set(t, "s:1", "a-string")
	if b := m["a"].pull(t, "b"); len(b.Changes) != 0 {
		t.Fatalf("pulled %s, want nothing", keysOf(b))
	}
	if st := m["a"].tr.Status(); st.Unsupported["pn-counter"] != 1 || st.Unsupported["add-wins"] != 1 {
		t.Fatalf("unsupported %v, want pn-counter 1, add-wins 1", st.Unsupported)
	}
}

func TestABatchFromASiteWithOtherPoliciesIsRefused(t *testing.T) {
	m := newMesh(t, "cnt:*=pn-counter")
	other := newSite(t, "b", nil, "a")
	m["a"].incr(t, "cnt:1", 1)
	b := m["a"].pull(t, "b")
	err := other.tr.CheckPolicies(b.Site, b.Policies)
	if err == nil || !strings.Contains(err.Error(), "--wan-policy") {
		t.Fatalf("a batch from a site with other policies: %v, want refused naming --wan-policy", err)
	}
	if st := other.tr.Status(); st.PolicyMismatches != 1 {
		t.Fatalf("policy mismatches %d, want 1", st.PolicyMismatches)
	}
	// A change carrying a merge state is refused by a site whose policy is lww.
	if _, err := other.tr.ApplyRemote(b.Changes[0], exclusive, other.rec); err == nil || !strings.Contains(err.Error(), "--wan-policy differ") {
		t.Fatalf("a merge state under lww: %v", err)
	}
}

func TestBadPoliciesAreRefusedNamingTheFlag(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{"nopolicy", "want PATTERN=POLICY"},
		{"=lww", "want PATTERN=POLICY"},
		{"k*=fastest", `policy "fastest" unknown: want lww, priority:SITE>SITE[>SITE...], pn-counter, add-wins or lua:FUNCTION`},
		{"k*=pn-counter:3", "takes no argument"},
		{"k*=priority:", "priority:SITE>SITE"},
		{"k*=priority:ny>NY", "site \"NY\""},
		{"k*=priority:ny>hk>ny", "twice"},
		{"k*=lua:", "lua:FUNCTION"},
		{"k*=lua:bad-name", "lua:FUNCTION"},
	} {
		_, err := ParseRules([]string{"ok*=lww", c.spec})
		if err == nil || !strings.HasPrefix(err.Error(), "--wan-policy ") || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), fmt.Sprintf("%q", c.spec)) {
			t.Errorf("%s: %v; want an error naming --wan-policy, the value and %q", c.spec, err, c.want)
		}
	}
	rules, err := ParseRules([]string{"a=b=lww"})
	if err != nil || rules[0].Pattern != "a=b" {
		t.Fatalf("a pattern with '=': %+v %v", rules, err)
	}
	dup := Config{Site: "a", OutboxMax: 1, Mode: ModeBlock, TombstoneTTL: time.Hour}
	dup.Policies, _ = ParseRules([]string{"k*=lww", "k*=add-wins"})
	if err := dup.Validate(); err == nil || !strings.Contains(err.Error(), `--wan-policy names pattern "k*" twice`) {
		t.Fatalf("a pattern twice: %v", err)
	}
	if Fingerprint(nil) != "" || Fingerprint(rules) == Fingerprint(dup.Policies) {
		t.Fatal("fingerprints: none must be empty, different rules must differ")
	}
}

// BenchmarkRecordByPolicy is the journal hook's cost per SET (or INCRBY) on a primary with
// WAN on: without rules, with four rules none of which matches the key, and on a key
// under pn-counter.
func BenchmarkRecordByPolicy(b *testing.B) {
	rules := []string{"cnt:*=pn-counter", "s:*=add-wins", "p:*=priority:a>b", "u:*=lua:f"}
	for _, c := range []struct {
		name  string
		rules []string
		key   string
		incr  bool
	}{
		{"no-rules", nil, "user:1", false},
		{"4-rules-no-match", rules, "user:1", false},
		{"pn-counter", rules, "cnt:1", true},
	} {
		b.Run(c.name, func(b *testing.B) {
			rs, err := ParseRules(c.rules)
			if err != nil {
				b.Fatal(err)
			}
			s := newSite(b, "a", func(cfg *Config) { cfg.Policies = rs; cfg.OutboxMax = 1 << 30 }, "b")
			s.st.SetJournal(discardJournal{s.tr})
			key, val := []byte(c.key), []byte("value-of-64-bytes-value-of-64-bytes-value-of-64-bytes-value-of-6")
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if c.incr {
					_, err = s.st.IncrBy(key, 1)
				} else {
					_, err = s.st.Set(nil, key, val, store.SetOptions{})
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// discardJournal runs the tracker's hook and drops the replication stream.
type discardJournal struct{ tr *Tracker }

func (d discardJournal) Record(slot int, op []byte) { d.tr.Record(slot, op, func(int, []byte) {}) }

// TestAMergedLocalWriteIsOneRecordWithItsStamp: a local INCRBY on a pn-counter key journals
// its stamp and its effect in one WAN record, so a journal cut anywhere holds both or
// neither; the backup replaying it holds the same stamp and state.
func TestAMergedLocalWriteIsOneRecordWithItsStamp(t *testing.T) {
	m := newMesh(t, "n:*=pn-counter")
	a := m["a"]
	a.incr(t, "n:1", 5)
	a.mu.Lock()
	var wan [][]byte
	for _, op := range a.stream {
		if IsOp(op) {
			wan = append(wan, op)
		}
	}
	a.mu.Unlock()
	if len(wan) != 1 || wan[0][0] != opLocal {
		t.Fatalf("an INCRBY journaled %d WAN records (%x), want one local-effect record", len(wan), wan)
	}
	b := a.backup(t)
	wantHLC, ok := a.tr.Stamp([]byte("n:1"))
	if got, bok := b.tr.Stamp([]byte("n:1")); !ok || !bok || got != wantHLC {
		t.Errorf("the backup's stamp of n:1 = %d (%v), the primary's %d (%v)", got, bok, wantHLC, ok)
	}
	if !bytes.Equal(b.state("n:1"), a.state("n:1")) {
		t.Errorf("the backup's merge state of n:1 differs from the primary's")
	}
}
