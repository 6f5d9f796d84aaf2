package store

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"
)

// newTestStore returns a store whose clock the test moves by hand.
func newTestStore() (*Store, *int64) {
	now := int64(1_000_000)
	s := New(1 << 20)
	s.clock = func() int64 { return now }
	return s, &now
}

func b(s string) []byte { return []byte(s) }

// must fails the test on a store error; its first argument is the discarded result.
func must[T any](t testing.TB) func(T, error) {
	return func(_ T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestSetGetOptions(t *testing.T) {
	s, _ := newTestStore()
	tests := []struct {
		name     string
		val      string
		opt      SetOptions
		wantDone bool
		wantOld  string
		wantHad  bool
		wantVal  string
	}{
		{"xx on missing", "a", SetOptions{XX: true}, false, "", false, ""},
		{"nx on missing", "a", SetOptions{NX: true}, true, "", false, "a"},
		{"nx on existing", "b", SetOptions{NX: true}, false, "", false, "a"},
		{"xx with get", "c", SetOptions{XX: true, Get: true}, true, "a", true, "c"},
		{"plain", "dddddddddddddddddddddddd", SetOptions{}, true, "", false, "dddddddddddddddddddddddd"},
		{"shorter reuses", "e", SetOptions{Get: true}, true, "dddddddddddddddddddddddd", true, "e"},
	}
	for _, tt := range tests {
		res, err := s.Set(nil, b("k"), b(tt.val), tt.opt)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if res.Done != tt.wantDone || string(res.Old) != tt.wantOld || res.HadOld != tt.wantHad {
			t.Errorf("%s: got %+v", tt.name, res)
		}
		v, _, _ := s.Get(nil, b("k"))
		if string(v) != tt.wantVal {
			t.Errorf("%s: value %q, want %q", tt.name, v, tt.wantVal)
		}
	}
}

func TestWrongType(t *testing.T) {
	s, _ := newTestStore()
	if _, err := s.HSet(b("h"), [][]byte{b("f"), b("v")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Set(nil, b("s"), b("v"), SetOptions{}); err != nil {
		t.Fatal(err)
	}
	checks := map[string]error{}
	_, _, checks["get"] = s.Get(nil, b("h"))
	_, checks["set get"] = s.Set(nil, b("h"), b("x"), SetOptions{Get: true})
	_, checks["incr"] = s.IncrBy(b("h"), 1)
	_, checks["incrbyfloat"] = s.IncrByFloat(b("h"), b("1"))
	_, checks["append"] = s.Append(b("h"), b("x"))
	_, checks["strlen"] = s.StrLen(b("h"))
	_, checks["hset"] = s.HSet(b("s"), [][]byte{b("f"), b("v")})
	_, _, checks["hget"] = s.HGet(nil, b("s"), b("f"))
	_, checks["hgetall"] = s.HGetAll(b("s"))
	_, checks["hdel"] = s.HDel(b("s"), [][]byte{b("f")})
	_, checks["hincrby"] = s.HIncrBy(b("s"), b("f"), 1)
	_, checks["hlen"] = s.HLen(b("s"))
	_, checks["sadd"] = s.SAdd(b("h"), [][]byte{b("m")})
	_, checks["srem"] = s.SRem(b("s"), [][]byte{b("m")})
	_, checks["smembers"] = s.SMembers(b("s"))
	_, checks["sismember"] = s.SIsMember(b("s"), b("m"))
	_, checks["smismember"] = s.SMIsMember(b("s"), [][]byte{b("m")})
	_, checks["scard"] = s.SCard(b("h"))
	_, _, checks["spop"] = s.SPop(b("s"), 1)
	_, checks["srandmember"] = s.SRandMember(b("s"), 1)
	_, checks["smove"] = s.SMove(b("s"), b("x"), b("m"))
	_, checks["sinter"] = s.SetAlgebra(SetInter, [][]byte{b("s")})
	_, checks["sintercard"] = s.SInterCard([][]byte{b("s")}, 0)
	_, checks["sunionstore"] = s.SetAlgebraStore(SetUnion, b("s"), [][]byte{b("s")})
	_, _, checks["sscan"] = s.SScan(b("s"), 0, nil, 10)
	_, checks["lpush"] = s.Push(b("s"), [][]byte{b("e")}, true, false)
	_, _, checks["rpop"] = s.Pop(b("h"), false, 1)
	_, checks["llen"] = s.LLen(b("s"))
	_, checks["lrange"] = s.LRange(b("s"), 0, -1)
	_, _, checks["lindex"] = s.LIndex(nil, b("s"), 0)
	checks["lset"] = s.LSet(b("s"), 0, b("e"))
	_, checks["linsert"] = s.LInsert(b("s"), true, b("e"), b("f"))
	_, checks["lrem"] = s.LRem(b("s"), 0, b("e"))
	checks["ltrim"] = s.LTrim(b("s"), 0, 1)
	_, checks["lpos"] = s.LPos(b("s"), b("e"), LPosOptions{Rank: 1})
	_, _, checks["lmove"] = s.LMove(b("s"), b("x"), true, true)
	_, _, checks["lmpop"] = s.MPop([][]byte{b("s")}, true, 1)
	for name, err := range checks {
		if !errors.Is(err, ErrWrongType) {
			t.Errorf("%s: err = %v, want WRONGTYPE", name, err)
		}
	}
	// A plain SET replaces any type.
	if _, err := s.Set(nil, b("h"), b("x"), SetOptions{}); err != nil || s.Type(b("h")) != KindString {
		t.Fatalf("SET over a hash: %v, type %v", err, s.Type(b("h")))
	}
}

func TestCounters(t *testing.T) {
	s, _ := newTestStore()
	tests := []struct {
		initial string
		delta   int64
		want    int64
		wantErr error
	}{
		{"", 5, 5, nil},
		{"10", -3, 7, nil},
		{"9223372036854775807", 1, 0, ErrOverflow},
		{"-9223372036854775808", -1, 0, ErrOverflow},
		{"abc", 1, 0, ErrNotInteger},
		{"+1", 1, 0, ErrNotInteger},
		{"01", 1, 0, ErrNotInteger},
		{" 1", 1, 0, ErrNotInteger},
	}
	for _, tt := range tests {
		s.Del(b("n"))
		if tt.initial != "" {
			must[SetResult](t)(s.Set(nil, b("n"), b(tt.initial), SetOptions{}))
		}
		got, err := s.IncrBy(b("n"), tt.delta)
		if !errors.Is(err, tt.wantErr) || (err == nil && got != tt.want) {
			t.Errorf("IncrBy(%q, %d) = %d, %v; want %d, %v", tt.initial, tt.delta, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestIncrByFloat(t *testing.T) {
	s, _ := newTestStore()
	tests := []struct {
		initial string
		delta   string
		want    string
		wantErr error
	}{
		// Redis's results (long double sums printed with 17 decimals, zeros trimmed).
		{"10.50", "0.1", "10.6", nil},
		{"0.1", "0.2", "0.3", nil},
		{"5.0e3", "2.0e2", "5200", nil},
		{"", "3", "3", nil},
		{"abc", "1", "", ErrNotFloat},
		{"1", "1.23456789012345678", "2.23456789012345678", nil},
		{"1e20", "1e30", "1000000000100000000035918970880", nil},
		{"1.7976931348623157e308", "1.7976931348623157e308", "359538626972463139991842093548208868096772893888658356970628841530353257046248792709403737216774171128857586838851041378617416726902272110715794556052955234146997955372576789671236326588091188869859074894581254961338834769297758245552436667197907705664206565009503223382416235440319971852753604933726679072768", nil},
		{"", "0x10", "16", nil},
		{"", "0x1p3", "8", nil},
		{"", "+.5", "0.5", nil},
		{"", "5.", "5", nil},
		{"", "1e-400", "0", nil},
		{"1", "-1e-20", "1", nil},
		{"0", "-1e-20", "0", nil},
		{"", "-0", "0", nil},
		{"", "inf", "", ErrNaN},
		{"", "-Infinity", "", ErrNaN},
		{"", "nan", "", ErrNotFloat},
		{"", " 1", "", ErrNotFloat},
		{"", "1 ", "", ErrNotFloat},
		{"", "1_0", "", ErrNotFloat},
		{"", "0b1", "", ErrNotFloat},
		{"", "1e5000", "", ErrNotFloat},
		{"", "1e-5000", "", ErrNotFloat},
		{"", "", "", ErrNotFloat},
		{"0x10", "1", "17", nil},
		{" 1", "1", "", ErrNotFloat},
	}
	for _, tt := range tests {
		s.Del(b("f"))
		if tt.initial != "" {
			must[SetResult](t)(s.Set(nil, b("f"), b(tt.initial), SetOptions{}))
		}
		got, err := s.IncrByFloat(b("f"), b(tt.delta))
		if !errors.Is(err, tt.wantErr) || string(got) != tt.want {
			t.Errorf("IncrByFloat(%q, %q) = %q, %v; want %q, %v", tt.initial, tt.delta, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestExpiry(t *testing.T) {
	s, now := newTestStore()
	must[SetResult](t)(s.Set(nil, b("k"), b("v"), SetOptions{At: *now + 1000}))
	if ttl := s.TTL(b("k")); ttl != 1000 {
		t.Fatalf("TTL = %d", ttl)
	}
	// SET without KEEPTTL clears the timeout; with it, keeps it.
	must[SetResult](t)(s.Set(nil, b("k"), b("v2"), SetOptions{KeepTTL: true}))
	if ttl := s.TTL(b("k")); ttl != 1000 {
		t.Fatalf("TTL after KEEPTTL = %d", ttl)
	}
	conds := []struct {
		cond ExpireCond
		at   int64
		want bool
	}{
		{ExpireNX, *now + 5000, false},
		{ExpireGT, *now + 500, false},
		{ExpireGT, *now + 2000, true},
		{ExpireLT, *now + 3000, false},
		{ExpireLT, *now + 1500, true},
		{ExpireXX, *now + 1200, true},
	}
	for _, c := range conds {
		if got, _ := s.Expire(b("k"), c.at, c.cond); got != c.want {
			t.Errorf("Expire(cond %d, +%d) = %v", c.cond, c.at-*now, got)
		}
	}
	*now += 1200
	if s.Exists(b("k")) {
		t.Fatal("key visible after its expiry")
	}
	if s.Keys() != 1 {
		t.Fatalf("expired key collected before any access: keys = %d", s.Keys())
	}
	if _, volatile := s.expireCycle(0, time.Now().Add(time.Second)); !volatile {
		t.Error("active expiry found no volatile key")
	}
	if s.Keys() != 0 || s.ExpiredKeys() != 1 || s.DatasetBytes() != 0 || s.IndexBytes() != 0 {
		t.Fatalf("after active expiry: keys %d expired %d dataset %d index %d", s.Keys(), s.ExpiredKeys(), s.DatasetBytes(), s.IndexBytes())
	}
	must[SetResult](t)(s.Set(nil, b("p"), b("v"), SetOptions{At: *now + 10}))
	if !s.Persist(b("p")) || s.TTL(b("p")) != -1 || s.Persist(b("p")) {
		t.Fatal("PERSIST")
	}
	if ok, _ := s.Expire(b("p"), *now-1, ExpireAlways); !ok || s.Exists(b("p")) {
		t.Fatal("EXPIRE in the past must delete")
	}
	if s.TTL(b("missing")) != -2 {
		t.Fatal("TTL of a missing key")
	}
}

func TestHash(t *testing.T) {
	s, _ := newTestStore()
	n, _ := s.HSet(b("h"), [][]byte{b("a"), b("1"), b("b"), b("2")})
	if n != 2 {
		t.Fatalf("HSET added %d", n)
	}
	n, _ = s.HSet(b("h"), [][]byte{b("a"), b("3")})
	if n != 0 {
		t.Fatalf("HSET update added %d", n)
	}
	if v, ok, _ := s.HGet(nil, b("h"), b("a")); !ok || string(v) != "3" {
		t.Fatalf("HGET = %q %v", v, ok)
	}
	if v, err := s.HIncrBy(b("h"), b("a"), 4); err != nil || v != 7 {
		t.Fatalf("HINCRBY = %d %v", v, err)
	}
	if _, err := s.HSet(b("h"), [][]byte{b("s"), b("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.HIncrBy(b("h"), b("s"), 1); !errors.Is(err, ErrHashNotInteger) {
		t.Fatalf("HINCRBY on text: %v", err)
	}
	all, _ := s.HGetAll(b("h"))
	if len(all) != 6 {
		t.Fatalf("HGETALL = %q", all)
	}
	vals, _ := s.HMGet(b("h"), [][]byte{b("b"), b("zz")})
	if string(vals[0]) != "2" || vals[1] != nil {
		t.Fatalf("HMGET = %q", vals)
	}
	if n, _ := s.HDel(b("h"), [][]byte{b("a"), b("b"), b("s"), b("zz")}); n != 3 {
		t.Fatalf("HDEL = %d", n)
	}
	if s.Exists(b("h")) || s.DatasetBytes() != 0 || s.IndexBytes() != 0 {
		t.Fatalf("emptied hash still there or memory leaked: dataset %d index %d", s.DatasetBytes(), s.IndexBytes())
	}
}

func TestMemoryAccounting(t *testing.T) {
	s, _ := newTestStore()
	for i := range 1000 {
		k := b(fmt.Sprint("key", i))
		must[SetResult](t)(s.Set(nil, k, make([]byte, 100), SetOptions{}))
		must[int64](t)(s.Append(k, b("xyz")))
		must[int64](t)(s.HSet(b(fmt.Sprint("h", i)), [][]byte{b("f"), b("v")}))
	}
	if used := s.UsedMemory(); used < 2000*100 {
		t.Fatalf("used %d is below the data size", used)
	}
	s.Flush()
	if s.UsedMemory() != 0 || s.Keys() != 0 {
		t.Fatalf("after flush: used %d keys %d", s.UsedMemory(), s.Keys())
	}
}

func TestScanCoversEveryKeyOnce(t *testing.T) {
	s, _ := newTestStore()
	want := map[string]bool{}
	for i := range 500 {
		k := fmt.Sprint("user:", i)
		want[k] = true
		must[SetResult](t)(s.Set(nil, b(k), b("v"), SetOptions{}))
	}
	must[int64](t)(s.HSet(b("user:hash"), [][]byte{b("f"), b("v")}))
	seen := map[string]int{}
	cursor := uint64(0)
	for {
		var keys [][]byte
		cursor, keys = s.Scan(cursor, ScanOptions{Count: 7, Match: b("user:*"), Kind: KindString})
		for _, k := range keys {
			seen[string(k)]++
		}
		if cursor == 0 {
			break
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("scan saw %d keys, want %d", len(seen), len(want))
	}
	for k, n := range seen {
		if n != 1 || !want[k] {
			t.Fatalf("key %q seen %d times", k, n)
		}
	}
	keys := s.KeysMatching(b("user:1?"))
	sort.Slice(keys, func(i, j int) bool { return string(keys[i]) < string(keys[j]) })
	if len(keys) != 10 || string(keys[0]) != "user:10" {
		t.Fatalf("KEYS user:1? = %q", keys)
	}
}

func BenchmarkSetGet(b *testing.B) {
	s := New(1 << 20)
	key := []byte("key:{06S}:000000012345")
	val := make([]byte, 100)
	var dst []byte
	b.ReportAllocs()
	for b.Loop() {
		must[SetResult](b)(s.Set(nil, key, val, SetOptions{}))
		dst, _, _ = s.Get(dst[:0], key)
	}
}

func TestWritesPastMaxMemoryAreRefusedWhole(t *testing.T) {
	s, _ := newTestStore()
	s.SetMaxMemory(64 << 10)
	val := bytes.Repeat([]byte("v"), 1000)
	var err error
	n := 0
	for ; err == nil && n < 1000; n++ {
		_, err = s.Set(nil, fmt.Appendf(nil, "k%d", n), val, SetOptions{})
	}
	if !errors.Is(err, ErrOOM) || s.UsedMemory() > 64<<10 {
		t.Fatalf("after %d writes: err %v, used %d of %d", n, err, s.UsedMemory(), 64<<10)
	}
	keys, used := s.Keys(), s.UsedMemory()
	if err := s.MSet([][]byte{b("{m}1"), val, b("{m}2"), val, b("{m}3"), bytes.Repeat(val, 60)}); !errors.Is(err, ErrOOM) {
		t.Fatalf("MSET past maxmemory: %v", err)
	}
	if _, err := s.HSet(b("h"), [][]byte{b("f"), bytes.Repeat(val, 60)}); !errors.Is(err, ErrOOM) {
		t.Fatalf("HSET past maxmemory: %v", err)
	}
	if s.Keys() != keys || s.UsedMemory() != used || s.Exists(b("{m}1")) {
		t.Fatalf("a refused write changed the store: keys %d->%d used %d->%d", keys, s.Keys(), used, s.UsedMemory())
	}
	// A replica applies what its primary accepted, whatever its own limit.
	op := []byte{opString}
	op = appendBytes(op, b("replicated"))
	op = append(op, 0) // no expiry
	op = appendBytes(op, bytes.Repeat(val, 60))
	if err := s.Apply(op); err != nil || !s.Exists(b("replicated")) {
		t.Fatalf("Apply past maxmemory: %v", err)
	}
	// Deleting makes room again.
	s.Del(b("replicated"))
	for i := range n {
		s.Del(fmt.Appendf(nil, "k%d", i))
	}
	if _, err := s.Set(nil, b("again"), val, SetOptions{}); err != nil {
		t.Fatalf("SET after deletes: %v", err)
	}
}

func TestAppendGrowsInPlace(t *testing.T) {
	s, _ := newTestStore()
	var want []byte
	for i := range 2000 {
		piece := fmt.Appendf(nil, "%d,", i)
		want = append(want, piece...)
		if n, err := s.Append(b("log"), piece); err != nil || n != int64(len(want)) {
			t.Fatalf("append %d: %d, %v", i, n, err)
		}
	}
	if got, _, _ := s.Get(nil, b("log")); !bytes.Equal(got, want) {
		t.Fatalf("appended value differs (%d bytes, want %d)", len(got), len(want))
	}
	if d := s.DatasetBytes(); d > 3*int64(len(want)) {
		t.Fatalf("a %d-byte string appended to takes %d bytes", len(want), d)
	}
}
