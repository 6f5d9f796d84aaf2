package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/insightgrid/insight/grid/slots"
	"github.com/insightgrid/insight/grid/store/internal/slab"
)

// The model test runs a sequence of commands, decoded from bytes, against a store and
// against a plain Go map, and checks after each that the two agree: values, types, TTLs,
// hash fields, the hash encoding Redis would use, the key and volatile-key counts and the
// memory counters. The same interpreter serves a long seeded random run, a fuzz target
// and the journal round-trip.

// modelTags are the hash tags of the model's keys: each tag is one slot, so a slot flush
// removes a group of keys.
var modelTags = [...]string{"{a}", "{b}", "{c}", "{d}"}

const (
	keysPerTag  = 8
	modelFields = 200 // field names f0..f199; past them, 65-byte names
	modelBulk   = 1 << 20
)

// modelValue is what the model holds at a key.
type modelValue struct {
	kind  Kind
	str   []byte
	hash  map[string][]byte
	table bool // the hash has passed the small encoding's limits: it is a table for good
	set   map[string]bool
	enc   byte // a set's encoding: 'i' intset, 'l' listpack, 't' table
	exp   int64
}

type modelRun struct {
	t      testing.TB
	s      *Store
	mirror *Store // a store the journal of s replays to; nil: none
	now    *int64
	want   map[string]*modelValue
	in     []byte
	step   int
	op     string // the current command, for failure messages
}

// newModelRun returns a run over a fresh store; with mirrored, every change is journaled
// to a second store on the same clock.
func newModelRun(t testing.TB, in []byte, mirrored bool) *modelRun {
	s, now := newTestStore()
	m := &modelRun{t: t, s: s, now: now, want: map[string]*modelValue{}, in: in}
	if mirrored {
		m.mirror = New(modelBulk)
		m.mirror.clock = s.clock
		s.SetJournal(&replica{t: asT(t), dst: m.mirror})
	}
	return m
}

func asT(tb testing.TB) *testing.T {
	if t, ok := tb.(*testing.T); ok {
		return t
	}
	panic("the journal replica needs a *testing.T")
}

// next returns the next input byte, 0 once the input is used up.
func (m *modelRun) next() byte {
	if len(m.in) == 0 {
		return 0
	}
	c := m.in[0]
	m.in = m.in[1:]
	return c
}

// n returns a number in [0, k) from the input (k up to 65536).
func (m *modelRun) n(k int) int { return (int(m.next())<<8 | int(m.next())) % k }

func (m *modelRun) fatalf(format string, args ...any) {
	m.t.Helper()
	m.t.Fatalf("step %d (%s): %s", m.step, m.op, fmt.Sprintf(format, args...))
}

func modelKey(i int) string { return fmt.Sprintf("%sk%d", modelTags[i/keysPerTag], i%keysPerTag) }

func (m *modelRun) key() string { return modelKey(int(m.next()) % (len(modelTags) * keysPerTag)) }

func (m *modelRun) field() []byte {
	i := int(m.next())
	if i < modelFields {
		return fmt.Appendf(nil, "f%d", i)
	}
	// A field name over 64 bytes turns a hash into a table.
	return fmt.Appendf(nil, "%065d", i)
}

// value returns a value whose size is drawn from classes that cross the interesting
// boundaries: the small hash's 64-byte limit, integers for INCR, the arena's 64 KiB
// large-record threshold, up to 100 KiB.
func (m *modelRun) value() []byte {
	sel, seed := m.next(), m.next()
	var size int
	switch sel % 10 {
	case 0, 1, 2:
		size = m.n(16)
	case 3:
		size = 60 + m.n(10) // 60..69: around the small hash's value limit
	case 4:
		return m.integer()
	case 5, 6:
		size = 100 + m.n(4000)
	case 7:
		size = slab.MaxSmall - 100 + m.n(200) // the record straddles the large threshold
	case 8:
		size = slab.MaxSmall + m.n(100<<10-slab.MaxSmall+1)
	default:
		size = m.n(300)
	}
	v := make([]byte, size)
	for i := range v {
		v[i] = seed + byte(i*7+i>>8)
	}
	return v
}

// integer returns the text of an integer, or of something INCR must refuse.
func (m *modelRun) integer() []byte {
	switch c := m.next(); c % 12 {
	case 0:
		return []byte("-0")
	case 1:
		return []byte("007")
	case 2:
		return []byte("+1")
	case 3:
		return []byte(" 1")
	case 4:
		return strconv.AppendInt(nil, math.MaxInt64-int64(c%3), 10)
	case 5:
		return strconv.AppendInt(nil, math.MinInt64+int64(c%3), 10)
	case 6:
		return []byte("")
	default:
		return strconv.AppendInt(nil, int64(m.n(2000))-1000, 10)
	}
}

func (m *modelRun) delta() int64 {
	switch c := m.next(); c % 8 {
	case 0:
		return math.MaxInt64
	case 1:
		return math.MinInt64
	default:
		return int64(c) - 128
	}
}

// live returns the model's live value at k; nil when absent or expired.
func (m *modelRun) live(k string) *modelValue {
	v := m.want[k]
	if v == nil || (v.exp != 0 && v.exp <= *m.now) {
		return nil
	}
	return v
}

// collect is the model of lazy expiry: a write to an expired key removes it first.
func (m *modelRun) collect(k string) *modelValue {
	if m.want[k] != nil && m.live(k) == nil {
		delete(m.want, k)
	}
	return m.want[k]
}

// wantErr checks err against want (nil: none).
func (m *modelRun) wantErr(err, want error) {
	m.t.Helper()
	if !errors.Is(err, want) || (want == nil && err != nil) {
		m.fatalf("error %v, want %v", err, want)
	}
}

// parseInt is the model of Redis's string2ll: the value's text is exactly the integer's.
func parseInt(b []byte) (int64, bool) {
	v, err := strconv.ParseInt(string(b), 10, 64)
	return v, err == nil && strconv.FormatInt(v, 10) == string(b)
}

// add is x+d, false when it leaves int64.
func add(x, d int64) (int64, bool) {
	sum := new(big.Int).Add(big.NewInt(x), big.NewInt(d))
	return sum.Int64(), sum.IsInt64()
}

// markTable records that a hash passed the small encoding's limits.
func (v *modelValue) markTable() {
	if len(v.hash) > hashMaxListpackEntries {
		v.table = true
	}
	for f, x := range v.hash {
		if len(f) > hashMaxListpackValue || len(x) > hashMaxListpackValue {
			v.table = true
		}
	}
}

// run interprets the whole input, checking after each command.
func (m *modelRun) run() {
	for len(m.in) > 0 {
		m.step++
		k := m.exec()
		if k != "" {
			m.checkKey(k)
		}
		m.checkCounters()
		if m.step%64 == 0 {
			m.checkAll()
		}
	}
	m.checkAll()
	m.drain()
}

// exec runs one command and returns the key it touched ("" for none or for many).
func (m *modelRun) exec() string {
	c := m.next()
	switch c % 22 {
	case 0, 1:
		return m.set()
	case 2:
		return m.appendCmd()
	case 3:
		return m.incr()
	case 4:
		k := m.key()
		m.op = "DEL " + k
		want := m.collect(k) != nil
		delete(m.want, k)
		if got := m.s.Del([]byte(k)); got != want {
			m.fatalf("DEL = %v, want %v", got, want)
		}
		return k
	case 5:
		return m.expire()
	case 6:
		k := m.key()
		m.op = "PERSIST " + k
		cur := m.collect(k)
		want := cur != nil && cur.exp != 0
		if want {
			cur.exp = 0
		}
		if got := m.s.Persist([]byte(k)); got != want {
			m.fatalf("PERSIST = %v, want %v", got, want)
		}
		return k
	case 7:
		d := int64(m.n(500))
		m.op = fmt.Sprintf("clock +%dms", d)
		*m.now += d
		return ""
	case 8, 9:
		return m.hset(1 + m.n(6))
	case 10:
		return m.hset(1 + m.n(160))
	case 11:
		return m.hdel()
	case 12:
		return m.hincr()
	case 13:
		m.flushSlot()
		return ""
	case 14:
		m.dropExpired()
		return ""
	case 16, 17:
		return m.sadd(1 + m.n(6))
	case 18:
		if m.next()%4 == 0 {
			return m.sadd(1 + m.n(600))
		}
		return m.srem()
	case 19:
		return m.spop()
	case 20:
		return m.smove()
	case 21:
		return m.setStore()
	default:
		if m.next()%8 != 0 {
			m.op = "check"
			return m.key() // a pause: the key is checked as it is
		}
		m.op = "FLUSHALL"
		m.s.Flush()
		clear(m.want)
		if u := m.s.UsedMemory(); u != 0 {
			m.fatalf("used memory %d after FLUSHALL", u)
		}
		return ""
	}
}

func (m *modelRun) set() string {
	k, val, flags := m.key(), m.value(), m.next()
	o := SetOptions{NX: flags&1 != 0, XX: flags&2 != 0, KeepTTL: flags&4 != 0, Get: flags&8 != 0}
	if flags&16 != 0 && !o.KeepTTL {
		o.At = *m.now + 1 + int64(m.n(3000))
	}
	m.op = fmt.Sprintf("SET %s <%d bytes> %+v", k, len(val), o)
	cur := m.collect(k)
	var want SetResult
	var wantErr error
	if o.Get && cur != nil {
		if cur.kind != KindString {
			wantErr = ErrWrongType
		} else {
			want.Old, want.HadOld = cur.str, true
		}
	}
	if wantErr == nil && (!o.NX || cur == nil) && (!o.XX || cur != nil) {
		at := o.At
		if o.KeepTTL && cur != nil {
			at = cur.exp
		}
		m.want[k] = &modelValue{kind: KindString, str: cloneBytes(val), exp: at}
		want.Done = true
	}
	got, err := m.s.Set(nil, []byte(k), val, o)
	m.wantErr(err, wantErr)
	if got.Done != want.Done || got.HadOld != want.HadOld || !bytes.Equal(got.Old, want.Old) {
		m.fatalf("SET = done %v had %v old <%d bytes>, want done %v had %v old <%d bytes>",
			got.Done, got.HadOld, len(got.Old), want.Done, want.HadOld, len(want.Old))
	}
	return k
}

func (m *modelRun) appendCmd() string {
	k, val := m.key(), m.value()
	m.op = fmt.Sprintf("APPEND %s <%d bytes>", k, len(val))
	cur := m.collect(k)
	var want int64
	var wantErr error
	switch {
	case cur == nil:
		m.want[k] = &modelValue{kind: KindString, str: cloneBytes(val)}
		want = int64(len(val))
	case cur.kind != KindString:
		wantErr = ErrWrongType
	case len(cur.str)+len(val) > modelBulk:
		wantErr = ErrTooBig
	default:
		cur.str = append(cur.str, val...)
		want = int64(len(cur.str))
	}
	got, err := m.s.Append([]byte(k), val)
	m.wantErr(err, wantErr)
	if got != want {
		m.fatalf("APPEND = %d, want %d", got, want)
	}
	return k
}

func (m *modelRun) incr() string {
	k, d := m.key(), m.delta()
	cur := m.collect(k)
	m.op = fmt.Sprintf("INCRBY %s %d", k, d)
	if cur != nil && len(cur.str) <= 20 {
		m.op += fmt.Sprintf(" on %q", cur.str)
	}
	var x int64
	var wantErr error
	switch {
	case cur == nil:
	case cur.kind != KindString:
		wantErr = ErrWrongType
	default:
		var ok bool
		if x, ok = parseInt(cur.str); !ok {
			wantErr = ErrNotInteger
		}
	}
	sum, ok := add(x, d)
	if wantErr == nil && !ok {
		wantErr = ErrOverflow
	}
	if wantErr == nil {
		if cur == nil {
			cur = &modelValue{kind: KindString}
			m.want[k] = cur
		}
		cur.str = strconv.AppendInt(nil, sum, 10)
	}
	got, err := m.s.IncrBy([]byte(k), d)
	m.wantErr(err, wantErr)
	if wantErr == nil && got != sum {
		m.fatalf("INCRBY = %d, want %d", got, sum)
	}
	return k
}

func (m *modelRun) expire() string {
	k, c := m.key(), m.next()
	at := *m.now + int64(m.n(4000)) - 500
	cond := ExpireCond(c % 5)
	m.op = fmt.Sprintf("EXPIRE %s at now%+d cond %d", k, at-*m.now, cond)
	cur := m.collect(k)
	want := false
	if cur != nil {
		switch cond {
		case ExpireNX:
			want = cur.exp == 0
		case ExpireXX:
			want = cur.exp != 0
		case ExpireGT:
			want = cur.exp != 0 && at > cur.exp
		case ExpireLT:
			want = cur.exp == 0 || at < cur.exp
		default:
			want = true
		}
	}
	if want && at <= *m.now {
		delete(m.want, k)
	} else if want {
		cur.exp = at
	}
	got, err := m.s.Expire([]byte(k), at, cond)
	m.wantErr(err, nil)
	if got != want {
		m.fatalf("EXPIRE = %v, want %v", got, want)
	}
	return k
}

// hashFor is the model's hash at k for a write, created when absent; ErrWrongType when k
// holds a string.
func (m *modelRun) hashFor(k string) (*modelValue, error) {
	cur := m.collect(k)
	if cur != nil && cur.kind != KindHash {
		return nil, ErrWrongType
	}
	if cur == nil {
		cur = &modelValue{kind: KindHash, hash: map[string][]byte{}}
	}
	return cur, nil
}

func (m *modelRun) hset(pairs int) string {
	k := m.key()
	fv := make([][]byte, 0, 2*pairs)
	for range pairs {
		f, v := m.field(), m.value()
		if len(v) > 200 {
			v = v[:m.n(80)] // hash values stay small: the 64-byte limit is what matters
		}
		fv = append(fv, f, v)
	}
	m.op = fmt.Sprintf("HSET %s <%d pairs>", k, pairs)
	cur, wantErr := m.hashFor(k)
	var want int64
	if wantErr == nil {
		for i := 0; i < len(fv); i += 2 {
			if _, ok := cur.hash[string(fv[i])]; !ok {
				want++
			}
			cur.hash[string(fv[i])] = cloneBytes(fv[i+1])
		}
		cur.markTable()
		m.want[k] = cur
	}
	got, err := m.s.HSet([]byte(k), fv)
	m.wantErr(err, wantErr)
	if got != want {
		m.fatalf("HSET = %d, want %d", got, want)
	}
	return k
}

func (m *modelRun) hdel() string {
	k := m.key()
	fields := make([][]byte, 1+m.n(8))
	for i := range fields {
		fields[i] = m.field()
	}
	m.op = fmt.Sprintf("HDEL %s %q", k, fields)
	cur := m.collect(k)
	var want int64
	var wantErr error
	switch {
	case cur == nil:
	case cur.kind != KindHash:
		wantErr = ErrWrongType
	default:
		for _, f := range fields {
			if _, ok := cur.hash[string(f)]; ok {
				delete(cur.hash, string(f))
				want++
			}
		}
		if len(cur.hash) == 0 {
			delete(m.want, k)
		}
	}
	got, err := m.s.HDel([]byte(k), fields)
	m.wantErr(err, wantErr)
	if got != want {
		m.fatalf("HDEL = %d, want %d", got, want)
	}
	return k
}

func (m *modelRun) hincr() string {
	k, f, d := m.key(), m.field(), m.delta()
	m.op = fmt.Sprintf("HINCRBY %s %s %d", k, f, d)
	cur, wantErr := m.hashFor(k)
	var sum int64
	if wantErr == nil {
		var x int64
		if old, ok := cur.hash[string(f)]; ok {
			if x, ok = parseInt(old); !ok {
				wantErr = ErrHashNotInteger
			}
		}
		var ok bool
		if sum, ok = add(x, d); wantErr == nil && !ok {
			wantErr = ErrOverflow
		}
	}
	if wantErr == nil {
		cur.hash[string(f)] = strconv.AppendInt(nil, sum, 10)
		cur.markTable()
		m.want[k] = cur
	}
	got, err := m.s.HIncrBy([]byte(k), f, d)
	m.wantErr(err, wantErr)
	if wantErr == nil && got != sum {
		m.fatalf("HINCRBY = %d, want %d", got, sum)
	}
	return k
}

// member returns a set member drawn so that sets cross every encoding's limits: integers
// (an intset, up to 512 of them), short strings (a listpack), 65-byte strings (a table),
// and texts an intset must refuse.
func (m *modelRun) member() []byte {
	switch c := m.next(); c % 8 {
	case 0, 1, 2:
		return strconv.AppendInt(nil, int64(m.n(700))-50, 10)
	case 3:
		return fmt.Appendf(nil, "%065d", c)
	case 4:
		return [][]byte{[]byte("-0"), []byte("01"), []byte("+1"), []byte("9223372036854775808"), []byte("")}[c%5]
	default:
		return fmt.Appendf(nil, "m%d", c)
	}
}

// setFor is the model's set at k for a write, created when absent; ErrWrongType when k
// holds another type.
func (m *modelRun) setFor(k string) (*modelValue, error) {
	cur := m.collect(k)
	if cur != nil && cur.kind != KindSet {
		return nil, ErrWrongType
	}
	if cur == nil {
		cur = &modelValue{kind: KindSet, set: map[string]bool{}, enc: 'i'}
	}
	return cur, nil
}

// add is the model of adding one member, with Redis's encoding conversions.
func (v *modelValue) add(x []byte) bool {
	if v.set[string(x)] {
		return false
	}
	_, isInt := parseInt(x)
	n := len(v.set) + 1
	switch {
	case v.enc == 'i' && isInt && n > setMaxIntsetEntries:
		v.enc = 't'
	case v.enc == 'i' && !isInt && n <= setMaxListpackEntries && len(x) <= setMaxListpackValue:
		v.enc = 'l'
	case v.enc == 'i' && !isInt:
		v.enc = 't'
	case v.enc == 'l' && (n > setMaxListpackEntries || len(x) > setMaxListpackValue):
		v.enc = 't'
	}
	v.set[string(x)] = true
	return true
}

func (m *modelRun) sadd(n int) string {
	k := m.key()
	members := make([][]byte, n)
	for i := range members {
		members[i] = m.member()
	}
	m.op = fmt.Sprintf("SADD %s <%d members>", k, n)
	cur, wantErr := m.setFor(k)
	var want int64
	if wantErr == nil {
		for _, x := range members {
			if cur.add(x) {
				want++
			}
		}
		m.want[k] = cur
	}
	got, err := m.s.SAdd([]byte(k), members)
	m.wantErr(err, wantErr)
	if got != want {
		m.fatalf("SADD = %d, want %d", got, want)
	}
	return k
}

func (m *modelRun) srem() string {
	k := m.key()
	members := make([][]byte, 1+m.n(8))
	for i := range members {
		members[i] = m.member()
	}
	m.op = fmt.Sprintf("SREM %s %q", k, members)
	cur := m.collect(k)
	var want int64
	var wantErr error
	switch {
	case cur == nil:
	case cur.kind != KindSet:
		wantErr = ErrWrongType
	default:
		for _, x := range members {
			if cur.set[string(x)] {
				delete(cur.set, string(x))
				want++
			}
		}
		if len(cur.set) == 0 {
			delete(m.want, k)
		}
	}
	got, err := m.s.SRem([]byte(k), members)
	m.wantErr(err, wantErr)
	if got != want {
		m.fatalf("SREM = %d, want %d", got, want)
	}
	return k
}

// spop pops random members: the model checks they were distinct members, as many as asked
// (or the whole set), then removes what the store chose.
func (m *modelRun) spop() string {
	k, count := m.key(), int64(m.n(12))
	m.op = fmt.Sprintf("SPOP %s %d", k, count)
	cur := m.collect(k)
	var wantErr error
	if cur != nil && cur.kind != KindSet {
		wantErr = ErrWrongType
	}
	got, ok, err := m.s.SPop([]byte(k), count)
	m.wantErr(err, wantErr)
	if wantErr != nil || cur == nil {
		if ok || len(got) != 0 {
			m.fatalf("SPOP = %d members, %v; want none", len(got), ok)
		}
		return k
	}
	if want := min(count, int64(len(cur.set))); int64(len(got)) != want || !ok {
		m.fatalf("SPOP = %d members %v, want %d", len(got), ok, want)
	}
	for _, x := range got {
		if !cur.set[string(x)] {
			m.fatalf("SPOP gave %q: not a member (or twice)", x)
		}
		delete(cur.set, string(x))
	}
	if len(cur.set) == 0 {
		delete(m.want, k)
	}
	return k
}

// sameTagKey returns a key of the same slot as k.
func (m *modelRun) sameTagKey(k string) string {
	i := int(m.next()) % keysPerTag
	return k[:3] + fmt.Sprintf("k%d", i)
}

func (m *modelRun) smove() string {
	src := m.key()
	dst, x := m.sameTagKey(src), m.member()
	m.op = fmt.Sprintf("SMOVE %s %s %q", src, dst, x)
	from, to := m.collect(src), m.collect(dst)
	var want bool
	var wantErr error
	switch {
	case from == nil:
	case from.kind != KindSet || (to != nil && to.kind != KindSet):
		wantErr = ErrWrongType
	case src == dst:
		want = from.set[string(x)]
	case from.set[string(x)]:
		want = true
		delete(from.set, string(x))
		if len(from.set) == 0 {
			delete(m.want, src)
		}
		if to == nil {
			to = &modelValue{kind: KindSet, set: map[string]bool{}, enc: 'i'}
			m.want[dst] = to
		}
		to.add(x)
	}
	got, err := m.s.SMove([]byte(src), []byte(dst), x)
	m.wantErr(err, wantErr)
	if got != want {
		m.fatalf("SMOVE = %v, want %v", got, want)
	}
	m.checkKey(src)
	return dst
}

// setStore runs SINTERSTORE, SUNIONSTORE or SDIFFSTORE over keys of one tag.
func (m *modelRun) setStore() string {
	op := SetOp(m.next() % 3)
	dst := m.key()
	keys := make([]string, 1+m.n(3))
	bkeys := make([][]byte, len(keys))
	for i := range keys {
		keys[i] = m.sameTagKey(dst)
		bkeys[i] = []byte(keys[i])
	}
	m.op = fmt.Sprintf("STORE op %d %s %q", op, dst, keys)
	var wantErr error
	sets := make([]map[string]bool, len(keys))
	// The keys are looked up (expired ones collected) up to the first of another type.
	for i, k := range keys {
		cur := m.collect(k)
		if cur != nil && cur.kind != KindSet {
			wantErr = ErrWrongType
			break
		}
		if cur != nil {
			sets[i] = cur.set
		}
	}
	result := map[string]bool{}
	switch op {
	case SetInter:
		for x := range sets[0] {
			in := true
			for _, o := range sets[1:] {
				in = in && o[x]
			}
			if in {
				result[x] = true
			}
		}
	case SetUnion:
		for _, o := range sets {
			for x := range o {
				result[x] = true
			}
		}
	case SetDiff:
		for x := range sets[0] {
			in := false
			for _, o := range sets[1:] {
				in = in || o[x]
			}
			if !in {
				result[x] = true
			}
		}
	}
	// A stored set is built from scratch: its encoding depends on its members only.
	got, err := m.s.SetAlgebraStore(op, []byte(dst), bkeys)
	m.wantErr(err, wantErr)
	if wantErr != nil {
		return dst
	}
	if got != int64(len(result)) {
		m.fatalf("STORE = %d, want %d", got, len(result))
	}
	m.collect(dst)
	delete(m.want, dst)
	if len(result) > 0 {
		v := &modelValue{kind: KindSet, set: result, enc: 'i'}
		ints, short := true, true
		for x := range result {
			_, isInt := parseInt([]byte(x))
			ints = ints && isInt
			short = short && len(x) <= setMaxListpackValue
		}
		switch {
		case ints && len(result) <= setMaxIntsetEntries:
		case len(result) <= setMaxListpackEntries && short:
			v.enc = 'l'
		default:
			v.enc = 't'
		}
		m.want[dst] = v
	}
	return dst
}

// checkSet compares the set at k with the model, encoding included.
func (m *modelRun) checkSet(k string, v *modelValue) {
	m.t.Helper()
	key := []byte(k)
	if n, err := m.s.SCard(key); err != nil || n != int64(len(v.set)) {
		m.fatalf("SCARD %s = %d %v, want %d", k, n, err, len(v.set))
	}
	all, err := m.s.SMembers(key)
	if err != nil || len(all) != len(v.set) {
		m.fatalf("SMEMBERS %s: %d members %v, want %d", k, len(all), err, len(v.set))
	}
	for _, x := range all {
		if !v.set[string(x)] {
			m.fatalf("SMEMBERS %s: %q is not a member", k, x)
		}
	}
	if ok, err := m.s.SIsMember(key, all[0]); !ok || err != nil {
		m.fatalf("SISMEMBER %s %q = %v %v", k, all[0], ok, err)
	}
	sl := m.s.slotOf(key)
	sl.mu.RLock()
	r, _ := m.s.find(sl, key)
	enc := byte('l')
	switch {
	case r.table():
		enc = 't'
	case r.flags&flagInts != 0:
		enc = 'i'
	}
	sl.mu.RUnlock()
	if enc != v.enc {
		m.fatalf("set %s of %d members in encoding %c, want %c", k, len(v.set), enc, v.enc)
	}
	if enc == 'i' {
		for i := 1; i < len(all); i++ {
			a, _ := parseInt(all[i-1])
			b, _ := parseInt(all[i])
			if a >= b {
				m.fatalf("intset %s out of order: %q", k, all)
			}
		}
	}
}

// flushSlot empties one tag's slot the way a replica applies a journaled slot flush (a
// slot that moved away is flushed this way too).
func (m *modelRun) flushSlot() {
	tag := modelTags[int(m.next())%len(modelTags)]
	slot := slots.OfString(tag)
	m.op = fmt.Sprintf("flush slot %d (%s)", slot, tag)
	for k := range m.want {
		if slots.OfString(k) == slot {
			delete(m.want, k)
		}
	}
	op := binary.AppendUvarint([]byte{opFlushSlot}, uint64(slot))
	for _, s := range []*Store{m.s, m.mirror} {
		if s == nil {
			continue
		}
		if err := s.Apply(op); err != nil {
			m.fatalf("Apply(flush slot): %v", err)
		}
	}
}

// dropExpired removes one tag's expired keys, as active expiry does.
func (m *modelRun) dropExpired() {
	tag := modelTags[int(m.next())%len(modelTags)]
	slot := slots.OfString(tag)
	m.op = fmt.Sprintf("drop expired of slot %d (%s)", slot, tag)
	want := 0
	for k := range m.want {
		if slots.OfString(k) == slot && m.live(k) == nil {
			delete(m.want, k)
			want++
		}
	}
	if got := m.s.DropExpired(slot); got != want {
		m.fatalf("DropExpired = %d, want %d", got, want)
	}
}

// checkKey compares what the store answers for k with the model.
func (m *modelRun) checkKey(k string) {
	m.t.Helper()
	key := []byte(k)
	v := m.live(k)
	wantKind, wantTTL := KindNone, int64(-2)
	if v != nil {
		wantKind, wantTTL = v.kind, -1
		if v.exp != 0 {
			wantTTL = v.exp - *m.now
		}
	}
	if got := m.s.Type(key); got != wantKind {
		m.fatalf("TYPE %s = %s, want %s", k, got, wantKind)
	}
	if got := m.s.TTL(key); got != wantTTL {
		m.fatalf("PTTL %s = %d, want %d", k, got, wantTTL)
	}
	str, ok, err := m.s.Get(nil, key)
	switch {
	case wantKind == KindString && (!ok || err != nil || !bytes.Equal(str, v.str)):
		m.fatalf("GET %s = <%d bytes> %v %v, want <%d bytes>", k, len(str), ok, err, len(v.str))
	case wantKind != KindString && wantKind != KindNone && !errors.Is(err, ErrWrongType):
		m.fatalf("GET %s of a %s: %v, want WRONGTYPE", k, wantKind, err)
	case wantKind == KindNone && (ok || err != nil):
		m.fatalf("GET %s of no key = %v %v", k, ok, err)
	}
	if wantKind != KindSet {
		if n, err := m.s.SCard(key); n != 0 || (wantKind != KindNone) != errors.Is(err, ErrWrongType) {
			m.fatalf("SCARD %s = %d %v", k, n, err)
		}
	}
	if wantKind == KindSet {
		m.checkSet(k, v)
	}
	if wantKind != KindHash {
		if n, err := m.s.HLen(key); n != 0 || (wantKind != KindNone) != errors.Is(err, ErrWrongType) {
			m.fatalf("HLEN %s = %d %v", k, n, err)
		}
		return
	}
	if n, err := m.s.HLen(key); err != nil || n != int64(len(v.hash)) {
		m.fatalf("HLEN %s = %d %v, want %d", k, n, err, len(v.hash))
	}
	all, err := m.s.HGetAll(key)
	if err != nil || len(all) != 2*len(v.hash) {
		m.fatalf("HGETALL %s: %d items %v, want %d", k, len(all), err, 2*len(v.hash))
	}
	for i := 0; i < len(all); i += 2 {
		if w, ok := v.hash[string(all[i])]; !ok || !bytes.Equal(w, all[i+1]) {
			m.fatalf("HGETALL %s: field %q = %q, want %q (present %v)", k, all[i], all[i+1], w, ok)
		}
	}
	probe := [][]byte{[]byte("absent"), all[0]}
	got, err := m.s.HMGet(key, probe)
	if err != nil || got[0] != nil || !bytes.Equal(got[1], v.hash[string(all[0])]) {
		m.fatalf("HMGET %s %q = %q %v", k, probe, got, err)
	}
	if ok, err := m.s.HExists(key, all[0]); !ok || err != nil {
		m.fatalf("HEXISTS %s %q = %v %v", k, all[0], ok, err)
	}
	sl := m.s.slotOf(key)
	sl.mu.RLock()
	r, _ := m.s.find(sl, key)
	table := r.table()
	sl.mu.RUnlock()
	if table != v.table {
		m.fatalf("hash %s of %d fields in table encoding: %v, want %v", k, len(v.hash), table, v.table)
	}
}

// checkAll compares every key, and the mirror's whole content with the store's.
func (m *modelRun) checkAll() {
	m.t.Helper()
	for i := range len(modelTags) * keysPerTag {
		m.checkKey(modelKey(i))
	}
	if m.mirror != nil {
		if got, want := dump(m.mirror), dump(m.s); got != want {
			m.fatalf("the journal's replica differs\nprimary: %.2000s\nreplica: %.2000s", want, got)
		}
	}
}

// checkCounters checks the key counts and that the memory counters bound the model's
// records: every record (expired ones not yet removed included) takes at least its length
// and at most its chunk, or twice its value for a string grown by APPEND.
func (m *modelRun) checkCounters() {
	m.t.Helper()
	var vol, fields, tables, lo, hi int64
	for k, v := range m.want {
		key := []byte(k)
		if v.exp != 0 {
			vol++
		}
		switch {
		case v.kind == KindString:
			lo += int64(keyLen(key, v.exp, len(v.str)))
			hi += int64(slab.ChunkSize(keyLen(key, v.exp, 2*len(v.str))))
		case v.kind == KindSet && v.enc == 't':
			n := keyLen(key, v.exp, 4)
			lo, hi = lo+int64(n), hi+int64(slab.ChunkSize(n))
			for x := range v.set {
				n := recordLen([]byte(x), 0, 0)
				lo, hi = lo+int64(n), hi+int64(slab.ChunkSize(n))
			}
			fields += int64(len(v.set))
			tables++
		case v.kind == KindSet:
			body := uvlen(len(v.set))
			for x := range v.set {
				body += uvlen(len(x)) + len(x)
			}
			n := keyLen(key, v.exp, body)
			lo, hi = lo+int64(n), hi+int64(slab.ChunkSize(n))
		case v.table:
			n := keyLen(key, v.exp, 4)
			lo, hi = lo+int64(n), hi+int64(slab.ChunkSize(n))
			for f, x := range v.hash {
				n := recordLen([]byte(f), 0, len(x))
				lo, hi = lo+int64(n), hi+int64(slab.ChunkSize(n))
			}
			fields += int64(len(v.hash))
			tables++
		default:
			body := uvlen(len(v.hash))
			for f, x := range v.hash {
				body += uvlen(len(f)) + len(f) + uvlen(len(x)) + len(x)
			}
			n := keyLen(key, v.exp, body)
			lo, hi = lo+int64(n), hi+int64(slab.ChunkSize(n))
		}
	}
	s := m.s
	if s.Keys() != int64(len(m.want)) || s.VolatileKeys() != vol {
		m.fatalf("keys %d volatile %d, model %d and %d", s.Keys(), s.VolatileKeys(), len(m.want), vol)
	}
	used, data, index := s.UsedMemory(), s.DatasetBytes(), s.IndexBytes()
	if data < lo || data > hi {
		m.fatalf("dataset %d bytes, want the records' %d to their chunks' %d", data, lo, hi)
	}
	if index < 8*(s.Keys()+vol+fields)+tableOverhead*tables {
		m.fatalf("index %d bytes for %d keys, %d volatile, %d hash fields in %d tables", index, s.Keys(), vol, fields, tables)
	}
	if used < data+index {
		m.fatalf("used memory %d below dataset %d + index %d", used, data, index)
	}
	if len(m.want) == 0 && (data != 0 || index != 0) {
		m.fatalf("no keys, yet dataset %d index %d", data, index)
	}
}

// drain deletes every key and checks that the store gives all its memory back.
func (m *modelRun) drain() {
	m.t.Helper()
	m.op = "deleting every key"
	for k := range m.want {
		m.s.Del([]byte(k))
	}
	clear(m.want)
	m.checkCounters()
	m.s.arena.Trim()
	if u := m.s.UsedMemory(); u != 0 {
		m.fatalf("used memory %d once every key is deleted and empty pages trimmed", u)
	}
	if m.mirror != nil {
		// Keys the primary collected lazily are not journaled: the replica drops them
		// itself once expired.
		for i := range m.mirror.slots {
			m.mirror.DropExpired(i)
		}
		if m.mirror.Keys() != 0 || m.mirror.DatasetBytes() != 0 || m.mirror.IndexBytes() != 0 {
			m.fatalf("replica keeps %d keys, dataset %d index %d", m.mirror.Keys(), m.mirror.DatasetBytes(), m.mirror.IndexBytes())
		}
	}
}

// randomInput is n bytes from a seeded generator.
func randomInput(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func modelInputSize(t *testing.T) int {
	if testing.Short() {
		return 20_000
	}
	return 80_000
}

// TestStoreAgainstModel runs a long random command sequence against the store and the
// map model.
func TestStoreAgainstModel(t *testing.T) {
	for seed := range uint64(2) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			m := newModelRun(t, randomInput(seed, modelInputSize(t)), false)
			m.run()
			t.Logf("%d commands", m.step)
		})
	}
}

// TestJournalReplaysModelWorkload journals the model workload (strings up to 100 KiB,
// hashes in both encodings, expiries, slot flushes) to a second store: after it, and at
// every full check on the way, both hold the same data slot by slot.
func TestJournalReplaysModelWorkload(t *testing.T) {
	m := newModelRun(t, randomInput(42, modelInputSize(t)), true)
	m.run()
	t.Logf("%d commands journaled in %d operations", m.step, m.s.journal.(*replica).ops)
}

func FuzzStoreAgainstModel(f *testing.F) {
	f.Add([]byte{0, 1, 8, 0, 0, 4, 2, 0, 0})
	f.Add(randomInput(7, 300))
	f.Add(bytes.Repeat([]byte{10, 3, 150, 0, 0, 0, 3, 2, 0, 1, 1}, 20))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 4096 {
			in = in[:4096]
		}
		newModelRun(t, in, false).run()
	})
}
