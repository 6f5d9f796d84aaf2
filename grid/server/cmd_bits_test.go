package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
)

// TestBitCommandReplies checks replies and errors of the bitmap and HyperLogLog commands
// against what redis-server 7.0 answers (verified by hand with redis-cli).
func TestBitCommandReplies(t *testing.T) {
	_, dial := startServer(t, Config{Replication: Standalone{}})
	c := dial()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"SETBIT", "{k}b", "7", "1"}, ":0\r\n"},
		{[]string{"SETBIT", "{k}b", "7", "1"}, ":1\r\n"},
		{[]string{"GET", "{k}b"}, "$1\r\n\x01\r\n"},
		{[]string{"SETBIT", "{k}b", "-1", "1"}, "-ERR bit offset is not an integer or out of range\r\n"},
		{[]string{"SETBIT", "{k}b", "4294967296", "1"}, "-ERR bit offset is not an integer or out of range\r\n"},
		// The test server's proto-max-bulk-len is 1 MiB: 2^23 bits.
		{[]string{"SETBIT", "{k}b", "8388608", "1"}, "-ERR bit offset is not an integer or out of range\r\n"},
		{[]string{"SETBIT", "{k}b", "1", "2"}, "-ERR bit is not an integer or out of range\r\n"},
		{[]string{"SETBIT", "{k}b", "1", "-0"}, "-ERR bit is not an integer or out of range\r\n"},
		{[]string{"GETBIT", "{k}b", "7"}, ":1\r\n"},
		{[]string{"GETBIT", "{k}none", "7"}, ":0\r\n"},
		{[]string{"BITCOUNT", "{k}none", "x", "y"}, ":0\r\n"},
		{[]string{"BITCOUNT", "{k}b", "0"}, "-ERR syntax error\r\n"},
		{[]string{"BITCOUNT", "{k}b", "0", "-1", "BIT"}, ":1\r\n"},
		{[]string{"BITCOUNT", "{k}b", "0", "6", "BIT"}, ":0\r\n"},
		{[]string{"BITPOS", "{k}none", "0"}, ":0\r\n"},
		{[]string{"BITPOS", "{k}none", "1"}, ":-1\r\n"},
		{[]string{"BITPOS", "{k}b", "2"}, "-ERR The bit argument must be 1 or 0.\r\n"},
		{[]string{"BITPOS", "{k}b", "1"}, ":7\r\n"},
		{[]string{"BITPOS", "{k}b", "0", "0", "-1", "BIT"}, ":0\r\n"},
		{[]string{"SET", "{k}ff", "\xff"}, "+OK\r\n"},
		{[]string{"BITPOS", "{k}ff", "0"}, ":8\r\n"},
		{[]string{"BITPOS", "{k}ff", "0", "0", "-1"}, ":-1\r\n"},
		{[]string{"BITOP", "NOT", "{k}d", "{k}a", "{k}b"}, "-ERR BITOP NOT must be called with a single source key.\r\n"},
		{[]string{"BITOP", "NAND", "{k}d", "{k}a"}, "-ERR syntax error\r\n"},
		{[]string{"BITOP", "AND", "{k}d", "{x}a"}, "-CROSSSLOT Keys in request don't hash to the same slot\r\n"},
		{[]string{"BITOP", "NOT", "{k}d", "{k}ff"}, ":1\r\n"},
		{[]string{"GET", "{k}d"}, "$1\r\n\x00\r\n"},
		{[]string{"BITOP", "OR", "{k}d", "{k}none"}, ":0\r\n"},
		{[]string{"EXISTS", "{k}d"}, ":0\r\n"},
		{[]string{"BITFIELD", "{k}f", "SET", "i8", "#1", "-100", "GET", "u16", "0"}, "*2\r\n:0\r\n:156\r\n"},
		{[]string{"BITFIELD", "{k}f", "OVERFLOW", "FAIL", "INCRBY", "i8", "#1", "-100", "OVERFLOW", "SAT", "INCRBY", "i8", "#1", "-100"}, "*2\r\n$-1\r\n:-128\r\n"},
		{[]string{"BITFIELD", "{k}f", "OVERFLOW", "WRAP", "INCRBY", "u2", "0", "5"}, "*1\r\n:1\r\n"},
		{[]string{"BITFIELD", "{k}f", "GET", "u64", "0"}, "-ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.\r\n"},
		{[]string{"BITFIELD", "{k}f", "OVERFLOW", "nope"}, "-ERR Invalid OVERFLOW type specified\r\n"},
		{[]string{"BITFIELD", "{k}f", "GET", "u8"}, "-ERR syntax error\r\n"},
		{[]string{"BITFIELD_RO", "{k}f", "SET", "u8", "0", "1"}, "-ERR BITFIELD_RO only supports the GET subcommand\r\n"},
		{[]string{"BITFIELD_RO", "{k}f", "GET", "i64", "0"}, "*1\r\n:4647714815446351872\r\n"},
		{[]string{"RPUSH", "{k}l", "x"}, ":1\r\n"},
		{[]string{"SETBIT", "{k}l", "1", "1"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{[]string{"PFADD", "{k}h"}, ":1\r\n"},
		{[]string{"GET", "{k}h"}, "$18\r\nHYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xff\r\n"},
		{[]string{"PFADD", "{k}h", "a", "b", "c"}, ":1\r\n"},
		{[]string{"PFADD", "{k}h", "a"}, ":0\r\n"},
		{[]string{"PFCOUNT", "{k}h"}, ":3\r\n"},
		{[]string{"PFDEBUG", "ENCODING", "{k}h"}, "+sparse\r\n"},
		{[]string{"PFDEBUG", "TODENSE", "{k}h"}, ":1\r\n"},
		{[]string{"PFDEBUG", "ENCODING", "{k}h"}, "+dense\r\n"},
		{[]string{"PFDEBUG", "DECODE", "{k}h"}, "-ERR HLL encoding is not sparse\r\n"},
		{[]string{"PFDEBUG", "NOPE", "{k}h"}, "-ERR Unknown PFDEBUG subcommand 'NOPE'\r\n"},
		{[]string{"PFCOUNT", "{k}h", "{k}none"}, ":3\r\n"},
		{[]string{"PFADD", "{k}b", "x"}, "-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n"},
		{[]string{"PFADD", "{k}l", "x"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{[]string{"PFMERGE", "{k}m", "{k}h"}, "+OK\r\n"},
		{[]string{"PFCOUNT", "{k}m"}, ":3\r\n"},
		{[]string{"PFSELFTEST"}, "+OK\r\n"},
	} {
		c.expect(encodeCmd(tc.args...), tc.want)
	}
}

// TestSetBitPastMaxMemoryAllocatesNothing: a SETBIT that would make a large string is
// refused with -OOM before the string exists.
func TestSetBitPastMaxMemoryAllocatesNothing(t *testing.T) {
	s, dial := startServer(t, Config{MaxMemory: 64 << 10, Replication: Standalone{}})
	c := dial()
	before := s.store.UsedMemory()
	c.expect(encodeCmd("SETBIT", "{k}big", "8388607", "1"), "-OOM command not allowed when used memory > 'maxmemory'.\r\n")
	c.expect(encodeCmd("EXISTS", "{k}big"), ":0\r\n")
	c.expect(encodeCmd("SETRANGE", "{k}big", "1000000", "x"), "-OOM command not allowed when used memory > 'maxmemory'.\r\n")
	c.expect(encodeCmd("BITFIELD", "{k}big", "SET", "u8", "8000000", "1"), "-OOM command not allowed when used memory > 'maxmemory'.\r\n")
	if after := s.store.UsedMemory(); after > before+4096 {
		t.Fatalf("used memory went from %d to %d", before, after)
	}
	c.expect(encodeCmd("SETBIT", "{k}small", "100", "1"), ":0\r\n")
	c.expect(encodeCmd("STRLEN", "{k}small"), ":13\r\n")
}

// TestHyperLogLogMatchesRedisBytes: after PFADD of m0..m(n-1) in one call and a PFCOUNT,
// the value is byte for byte what redis-server 7.0 holds (sparse at 100 members, dense at
// 10000), and counts as it does.
func TestHyperLogLogMatchesRedisBytes(t *testing.T) {
	s, dial := startServer(t, Config{Replication: Standalone{}})
	c := dial()
	for _, tc := range []struct {
		n      int
		count  string
		length int
		sha256 string
	}{
		{100, ":100\r\n", 279, "594089355df84a2f26a90e10d7863e4499aab50a707d7106a75eaf83ca9c71dc"},
		{10000, ":9914\r\n", 12304, "17099d82a2de4bf9b0452910ac9cef4f8d7abfa5e0c81b6615ddd373483db765"},
	} {
		key := fmt.Sprintf("{k}hll%d", tc.n)
		args := []string{"PFADD", key}
		for i := range tc.n {
			args = append(args, fmt.Sprint("m", i))
		}
		c.expect(encodeCmd(args...), ":1\r\n")
		c.expect(encodeCmd("PFCOUNT", key), tc.count)
		v, ok, err := s.store.Get(nil, []byte(key))
		if err != nil || !ok {
			t.Fatalf("GET %s: %v %v", key, ok, err)
		}
		if sum := sha256.Sum256(v); len(v) != tc.length || hex.EncodeToString(sum[:]) != tc.sha256 {
			t.Errorf("%s: %d bytes, sha256 %x; Redis has %d bytes, %s", key, len(v), sum, tc.length, tc.sha256)
		}
	}
}
