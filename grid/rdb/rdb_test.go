package rdb

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/insightgrid/insight/grid/store"
)

func TestCRC64Jones(t *testing.T) {
	// Redis's crc64 test vector (src/crc64.c).
	if got := crc([]byte("123456789")); got != 0xe9c6d914c4b8d9ca {
		t.Fatalf("crc64(123456789) = %#x", got)
	}
}

// Payloads redis-server 7.0.15 DUMPed.
var redisPayloads = []struct {
	name, hex string
	want      store.Value
}{
	{"string", "000568656c6c6f0a006372df766534200a", store.Value{Kind: store.KindString, Str: []byte("hello")}},
	{"lzf string", "00c3094064017878e057000178780a005db7f663bb08625f", store.Value{Kind: store.KindString, Str: []byte(strings.Repeat("x", 100))}},
	{"listpack hash", "10151500000004008266310382763103826632037b01ff0a004ac585b69f9c1e83",
		store.Value{Kind: store.KindHash, Items: bs("f1", "v1", "f2", "123")}},
	{"hashtable set", "02030162016301610a00b294da2e4ecda6fc", store.Value{Kind: store.KindSet, Items: bs("b", "c", "a")}},
	{"intset", "0b14040000000300000090eefeff01000000020000000a005d9df7da2f43d06b", store.Value{Kind: store.KindSet, Items: bs("-70000", "1", "2")}},
	{"quicklist", "1201021f1f00000008000101020103018161020101f178ec03f240420f0482626203ff0a00484f35c66454118e",
		store.Value{Kind: store.KindList, Items: bs("1", "2", "3", "a", "1", "-5000", "1000000", "bb")}},
	// ZADD z 1 a 2.5 b -0 c inf d
	{"listpack zset", "11212100000008008163020001816102010181620283322e350481640283696e6604ff0a00583ef00dc78a37d0",
		store.Value{Kind: store.KindZSet, ZSet: []store.ZEntry{{Member: []byte("c")}, {Member: []byte("a"), Score: 1}, {Member: []byte("b"), Score: 2.5}, {Member: []byte("d"), Score: math.Inf(1)}}}},
	// XADD s 1-1 f v g w; XADD s 1-2 f x g y; XADD s 2-0 h 1; XGROUP CREATE s g1 0;
	// XREADGROUP GROUP g1 alice COUNT 2 STREAMS s >; XGROUP CREATECONSUMER s g1 bob; XDEL s 1-2
	{"stream", "13011000000000000000010000000000000001404141000000190002010101020181660281670200010201000100018176028177020501030100010101817802817902050100010101dfff02010181680201010601ff0202000101010203010267310102020200000000000000010000000000000001e5a9b24ca20100000100000000000000010000000000000002e5a9b24ca2010000010205616c696365e5a9b24ca201000002000000000000000100000000000000010000000000000001000000000000000203626f6205aab24ca2010000000a0033752bbafffd7afa",
		store.Value{Kind: store.KindStream, Stream: &store.StreamValue{
			Entries: []store.StreamEntry{{ID: store.StreamID{Ms: 1, Seq: 1}, Fields: bs("f", "v", "g", "w")}, {ID: store.StreamID{Ms: 2}, Fields: bs("h", "1")}},
			Last:    store.StreamID{Ms: 2}, First: store.StreamID{Ms: 1, Seq: 1}, MaxDeleted: store.StreamID{Ms: 1, Seq: 2}, Added: 3,
			Groups: []store.StreamGroup{{Name: []byte("g1"), Last: store.StreamID{Ms: 1, Seq: 2}, Read: 2, Consumers: []store.StreamConsumer{
				{Name: []byte("alice"), Seen: 0x01a24cb2a9e5, Active: 0x01a24cb2a9e5, Pending: []store.StreamPending{
					{ID: store.StreamID{Ms: 1, Seq: 1}, Time: 0x01a24cb2a9e5, Count: 1}, {ID: store.StreamID{Ms: 1, Seq: 2}, Time: 0x01a24cb2a9e5, Count: 1}}},
				{Name: []byte("bob"), Seen: 0x01a24cb2aa05, Active: 0x01a24cb2aa05},
			}}},
		}}},
}

func bs(s ...string) [][]byte {
	out := make([][]byte, len(s))
	for i, x := range s {
		out[i] = []byte(x)
	}
	return out
}

// show renders a value whole, to compare two.
func show(v store.Value) string {
	out := fmt.Sprintf("%v %q %q", v.Kind, v.Str, v.Items)
	for _, e := range v.ZSet {
		out += fmt.Sprintf(" %q:%v", e.Member, e.Score)
	}
	if st := v.Stream; st != nil {
		out += fmt.Sprintf(" last %v first %v maxdel %v added %d", st.Last, st.First, st.MaxDeleted, st.Added)
		for _, e := range st.Entries {
			out += fmt.Sprintf(" %v%q", e.ID, e.Fields)
		}
		for _, g := range st.Groups {
			out += fmt.Sprintf(" group %q %v %d", g.Name, g.Last, g.Read)
			for _, c := range g.Consumers {
				out += fmt.Sprintf(" consumer %q %d %d %v", c.Name, c.Seen, c.Active, c.Pending)
			}
		}
	}
	return out
}

func TestDecodeRedisPayloads(t *testing.T) {
	for _, tc := range redisPayloads {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := hex.DecodeString(tc.hex)
			v, err := Decode(p, 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			if show(v) != show(tc.want) {
				t.Fatalf("got %s, want %s", show(v), show(tc.want))
			}
			switch v.Kind {
			case store.KindZSet:
				// Written back byte for byte as Redis wrote it.
				v.Encoding = "listpack"
				if mine, err := Encode(v); err != nil || !bytes.Equal(mine, p) {
					t.Fatalf("encoded as %x %v", mine, err)
				}
			case store.KindStream:
				// Written without the deleted entry Redis kept, read back the same.
				mine, err := Encode(v)
				if err != nil {
					t.Fatal(err)
				}
				if back, err := Decode(mine, 1<<30); err != nil || show(back) != show(v) {
					t.Fatalf("read back %s %v", show(back), err)
				}
			}
			// A changed byte fails the checksum.
			p[1] ^= 1
			if _, err := Decode(p, 1<<30); err != ErrChecksum {
				t.Fatalf("corrupt payload: %v", err)
			}
		})
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	long := strings.Repeat("y", 5000)
	many := make([]string, 0, 3000)
	for i := range 3000 {
		many = append(many, fmt.Sprint(i*7919-1000000, "-", i%3))
	}
	for _, v := range []store.Value{
		{Kind: store.KindString, Str: []byte("")},
		{Kind: store.KindString, Str: []byte("-2147483648")},
		{Kind: store.KindString, Str: []byte("007")},
		{Kind: store.KindString, Str: []byte(long)},
		{Kind: store.KindHash, Encoding: "listpack", Items: bs("a", "1", "b", "-4096", "c", long, "d", "9223372036854775807")},
		{Kind: store.KindHash, Encoding: "hashtable", Items: bs("a", "1", "b", long)},
		{Kind: store.KindSet, Encoding: "intset", Items: bs("-9223372036854775808", "-5", "70000")},
		{Kind: store.KindSet, Encoding: "hashtable", Items: bs("x", "1")},
		{Kind: store.KindList, Encoding: "quicklist", Items: bs(many...)},
		{Kind: store.KindList, Encoding: "quicklist", Items: bs(long, long, "1", long)},
		{Kind: store.KindZSet, Encoding: "listpack", ZSet: zents("a", -1.5, "10", 0.0, "b", 3.0, "c", 1e300, "d", math.Inf(1))},
		{Kind: store.KindZSet, Encoding: "skiplist", ZSet: zents(long, math.Inf(-1), "x", math.Copysign(0, -1), "y", 0.1, "5", 4503599627370497.0)},
		{Kind: store.KindStream, Stream: bigStream(long)},
		{Kind: store.KindStream, Stream: &store.StreamValue{Last: store.StreamID{Ms: 5, Seq: 5}, Added: 9, MaxDeleted: store.StreamID{Ms: 5, Seq: 5},
			First: store.StreamID{Ms: 1}, Groups: []store.StreamGroup{{Name: []byte("g"), Read: -1}}}},
	} {
		p, err := Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(p, 1<<30)
		if err != nil {
			t.Fatalf("%s: %v", show(v), err)
		}
		if v.Kind == store.KindZSet {
			// Written greatest first, as Redis writes a skiplist.
			slices.SortFunc(got.ZSet, func(a, b store.ZEntry) int { return cmp.Compare(a.Score, b.Score) })
		}
		if show(got) != show(v) {
			t.Fatalf("round trip: got %.300s, want %.300s", show(got), show(v))
		}
	}
}

func zents(kv ...any) []store.ZEntry {
	var out []store.ZEntry
	for i := 0; i < len(kv); i += 2 {
		out = append(out, store.ZEntry{Member: []byte(kv[i].(string)), Score: kv[i+1].(float64)})
	}
	return out
}

// bigStream is a stream of many listpacks: entries with the same fields as their
// listpack's first and others, IDs whose differences to their master ID are negative,
// entries past the node byte limit, and groups whose consumers own the pending entries.
func bigStream(long string) *store.StreamValue {
	v := &store.StreamValue{Added: 1000}
	id := store.StreamID{Ms: 1, Seq: 1 << 40}
	for i := range 700 {
		fv := bs("f", fmt.Sprint(i))
		switch {
		case i%7 == 0:
			fv = bs("other", "x", "f", "-100000")
		case i%97 == 0:
			fv = bs("big", long)
		}
		if i%3 == 0 {
			id = store.StreamID{Ms: id.Ms + uint64(i), Seq: uint64(i % 5)}
		} else {
			id.Seq++
		}
		v.Entries = append(v.Entries, store.StreamEntry{ID: id, Fields: fv})
	}
	v.Last, v.First = id, v.Entries[0].ID
	v.Groups = []store.StreamGroup{
		{Name: []byte("a"), Last: v.Entries[10].ID, Read: 11, Consumers: []store.StreamConsumer{
			{Name: []byte("c1"), Seen: 1700000000000, Active: 1700000000000, Pending: []store.StreamPending{{ID: v.Entries[2].ID, Time: 1700000000001, Count: 3}, {ID: v.Entries[9].ID, Time: 1, Count: 1}}},
			{Name: []byte("c2"), Seen: 5, Active: 5, Pending: []store.StreamPending{{ID: v.Entries[4].ID, Time: 1700000000002, Count: 1 << 40}}},
			{Name: []byte("idle"), Seen: 7, Active: 7},
		}},
		{Name: []byte("b"), Last: store.StreamID{}, Read: 0},
	}
	return v
}

func TestDecodeRefusesBadPayloads(t *testing.T) {
	seal := func(body string) []byte {
		b, _ := hex.DecodeString(body)
		b = append(b, Version, 0)
		var c [8]byte
		x := crc(b)
		for i := range c {
			c[i] = byte(x >> (8 * i))
		}
		return append(b, c[:]...)
	}
	for name, body := range map[string]string{
		"zset no score":   "03010161",
		"zset nan":        "0301016101fd",
		"zset dup":        "050201610000000000000000016100000000000000f03f",
		"empty zset":      "0500",
		"zset odd pairs":  "110c0c00000001008161020101ff",
		"stream short id": "130102abcd",
		"empty set":       "0200",
		"duplicate":       "0202016101" + "61",
		"truncated":       "0005616263",
		"bad listpack":    "1003010203",
		"unknown type":    "63",
		"empty":           "",
		"short hash":      "0402016101620163",
		"bad length enc":  "00c5",
		"intset disorder": "0b1002000000020000000200010000",
	} {
		if _, err := Decode(seal(body), 1<<30); err != ErrBadFormat {
			t.Errorf("%s: %v, want bad format", name, err)
		}
	}
	if _, err := Decode([]byte("short"), 1<<30); err != ErrChecksum {
		t.Errorf("short payload: %v", err)
	}
	newer := seal("000161")
	newer[len(newer)-10] = Version + 1
	if _, err := Decode(newer, 1<<30); err != ErrChecksum {
		t.Errorf("newer version: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, tc := range redisPayloads {
		p, _ := hex.DecodeString(tc.hex)
		f.Add(p[:len(p)-10])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b := append(append([]byte{}, body...), Version, 0)
		x := crc(b)
		for i := range 8 {
			b = append(b, byte(x>>(8*i)))
		}
		v, err := Decode(b, 1<<20)
		if err != nil {
			return
		}
		// What decodes encodes again and decodes to the same.
		if v.Kind == store.KindSet || v.Kind == store.KindHash {
			v.Encoding = "hashtable"
		}
		p, err := Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(p, 1<<30); err != nil {
			t.Fatalf("re-encoded %s: %v", show(v), err)
		}
	})
}

func TestDecodeLimit(t *testing.T) {
	// 24 bytes of LZF that expand to 100.
	p, _ := hex.DecodeString("00c3094064017878e057000178780a005db7f663bb08625f")
	if _, err := Decode(p, 99); err != ErrTooLarge {
		t.Fatalf("limit 99: %v", err)
	}
	if _, err := Decode(p, 100); err != nil {
		t.Fatalf("limit 100: %v", err)
	}
}

// ziplist builds a ziplist (Redis before 7.0) of entries already encoded.
func ziplist(entries ...[]byte) []byte {
	body := []byte{}
	prev := 0
	for _, e := range entries {
		body = append(body, byte(prev))
		body = append(body, e...)
		prev = 1 + len(e)
	}
	zl := make([]byte, 10, 10+len(body)+1)
	zl = append(append(zl, body...), 0xff)
	zl[0], zl[1] = byte(len(zl)), byte(len(zl)>>8)
	zl[8] = byte(len(entries))
	return zl
}

func TestDecodeZiplists(t *testing.T) {
	zl := ziplist(
		[]byte{0x01, 'a'},              // a 1-byte string
		[]byte{0xf1},                   // the immediate 0
		[]byte{0xfd},                   // the immediate 12
		[]byte{0xfe, 0xf6},             // int8 -10
		[]byte{0xc0, 0x39, 0x30},       // int16 12345
		[]byte{0xf0, 0x00, 0x00, 0x80}, // int24 -8388608
		[]byte{0xd0, 0xff, 0xff, 0xff, 0x7f},
		[]byte{0xe0, 1, 0, 0, 0, 0, 0, 0, 0x80},
		append([]byte{0x40, 0x41}, bytes.Repeat([]byte("z"), 0x41)...), // a 14-bit length
	)
	want := bs("a", "0", "12", "-10", "12345", "-8388608", "2147483647", "-9223372036854775807", strings.Repeat("z", 0x41))
	got, err := readZiplist(zl)
	if err != nil || fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Fatalf("readZiplist: %q %v, want %q", got, err, want)
	}
	// As a list (type 10), a quicklist of one ziplist (14) and a hash (13, pairs).
	for _, body := range [][]byte{
		appendString([]byte{typeListZiplist}, zl),
		appendString([]byte{typeListQuicklist, 1}, zl),
	} {
		b := append(body, Version, 0)
		x := crc(b)
		for i := range 8 {
			b = append(b, byte(x>>(8*i)))
		}
		v, err := Decode(b, 1<<20)
		if err != nil || v.Kind != store.KindList || len(v.Items) != len(want) {
			t.Fatalf("decode of %x: %v %v", body[0], show(v), err)
		}
	}
	if _, err := readZiplist(zl[:len(zl)-3]); err == nil {
		t.Fatal("truncated ziplist read")
	}
}

// TestListpackBackLengthAsRedisReadsIt takes a back length Redis's listpack check takes
// (its value read backwards, into the entry, matches) and refuses one it refuses.
func TestListpackBackLengthAsRedisReadsIt(t *testing.T) {
	lp := func(entry ...byte) []byte {
		b := []byte{byte(7 + len(entry)), 0, 0, 0, 1, 0}
		return append(append(b, entry...), 0xff)
	}
	if got, err := readListpack(lp(0x00, 0x81)); err != nil || fmt.Sprintf("%q", got) != `["0"]` {
		t.Fatalf("back length 0x81 after 0x00: %q %v", got, err)
	}
	for _, entry := range [][]byte{{0x05, 0x81}, {0x00, 0x02}, {0x00}} {
		if _, err := readListpack(lp(entry...)); err == nil {
			t.Errorf("entry %x read", entry)
		}
	}
}
