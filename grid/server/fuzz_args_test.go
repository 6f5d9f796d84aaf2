package server

import (
	"io"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/insightgrid/insight/grid/resp"
	"github.com/insightgrid/insight/grid/store"
)

// fuzzCommands are the commands whose argument parsing FuzzCommandArguments drives: the
// set, list, hash, string, key, sorted-set, stream and blocking commands (appended at the
// end, so the byte seeds keep their meaning).
var fuzzCommands = strings.Fields("SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP SRANDMEMBER SMOVE " +
	"SINTER SINTERCARD SUNION SDIFF SINTERSTORE SUNIONSTORE SDIFFSTORE SSCAN " +
	"LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE LINDEX LSET LINSERT LREM LTRIM LPOS LMOVE RPOPLPUSH LMPOP " +
	"BLPOP BRPOP BLMPOP BLMOVE BRPOPLPUSH " +
	"HSETNX HKEYS HVALS HSTRLEN HINCRBYFLOAT HRANDFIELD HSCAN HSET " +
	"GETEX GETDEL GETSET MSETNX SETRANGE GETRANGE SUBSTR INCRBYFLOAT LCS " +
	"RENAME RENAMENX COPY TOUCH EXPIRETIME PEXPIRETIME RANDOMKEY " +
	"SET TYPE DEL EXPIRE " +
	"ZADD ZINCRBY ZREM ZSCORE ZMSCORE ZCARD ZCOUNT ZLEXCOUNT ZRANGE ZRANGESTORE ZREVRANGE ZRANGEBYSCORE ZREVRANGEBYSCORE ZRANGEBYLEX ZREVRANGEBYLEX ZRANK ZREVRANK ZPOPMIN ZPOPMAX ZMPOP ZRANDMEMBER ZUNION ZINTER ZDIFF ZUNIONSTORE ZINTERSTORE ZDIFFSTORE ZINTERCARD ZREMRANGEBYSCORE ZREMRANGEBYRANK ZREMRANGEBYLEX ZSCAN " +
	"XADD XLEN XRANGE XREVRANGE XDEL XTRIM XREAD XREADGROUP XACK XPENDING XCLAIM XAUTOCLAIM XSETID XGROUP XINFO " +
	"SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO PFADD PFCOUNT PFMERGE PFDEBUG " +
	"DUMP RESTORE SORT SORT_RO OBJECT MEMORY MOVE WAIT DEBUG COMMAND CONFIG " +
	"BZPOPMIN BZPOPMAX BZMPOP")

// fuzzWords are the arguments drawn: keys of one slot (and one of another), numbers at the
// edges of their ranges, options, text.
var fuzzWords = strings.Fields("{k}a {k}b {k}c {j}x 0 1 2 3 -1 -2 -100 100 9223372036854775807 " +
	"-9223372036854775808 18446744073709551616 x LEFT RIGHT BEFORE AFTER LIMIT COUNT MATCH RANK MAXLEN * {k}* -0 +1 " +
	"WITHVALUES 1.5 inf 1e400 0x10 EX PX EXAT PXAT PERSIST REPLACE DB 536870911 IDX LEN MINMATCHLEN WITHMATCHLEN " +
	"BYSCORE BYLEX REV WITHSCORES NX XX GT LT CH INCR MIN MAX WEIGHTS AGGREGATE SUM -inf +inf (1 [a (a - + nan " +
	"STREAMS GROUP > $ 0-1 1-* (0-1 - + NOMKSTREAM MINID ~ = CREATE SETID MKSTREAM ENTRIESREAD STREAM FULL IDLE FORCE JUSTID " +
	"GET INCRBY OVERFLOW WRAP SAT FAIL i8 u63 i64 #3 AND OR XOR NOT BIT BYTE ENCODING DECODE GETREG TODENSE 8388607 " +
	"ABSTTL IDLETIME FREQ ALPHA DESC ASC STORE BY GET # nosort ENCODING REFCOUNT USAGE SAMPLES GETKEYS GETKEYSANDFLAGS " +
	"SORT HELP hz timeout maxmemory-policy notify-keyspace-events allkeys-lru KEA BLOCK NOACK 0.5 1e-400")

// FuzzCommandArguments sends command lines built from the input through dispatch: every
// one gets a well-formed reply and none panics or hangs.
func FuzzCommandArguments(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3})
	f.Add([]byte{10, 3, 4, 0, 1, 22, 9})
	f.Add([]byte{33, 4, 4, 0, 20, 19})
	// Sorted sets: ZADD, then ranges, pops and algebra over the same keys.
	for _, line := range [][]string{
		{"ZADD", "{k}a", "1", "x", "inf", "{k}b"}, {"ZRANGE", "{k}a", "-inf", "+inf", "BYSCORE", "REV", "LIMIT", "0", "1"},
		{"ZRANGEBYLEX", "{k}a", "-", "+"}, {"ZUNIONSTORE", "{k}c", "2", "{k}a", "{k}b", "WEIGHTS", "1.5", "inf"},
		{"ZMPOP", "2", "{k}a", "{k}b", "MAX", "COUNT", "2"}, {"ZRANDMEMBER", "{k}a", "-100", "WITHSCORES"},
	} {
		f.Add(fuzzLine(line))
	}
	// Byte seeds: indexes into the lists above, found useful for streams and bitmaps.
	f.Add([]byte{66, 4, 0, 36, 24, 5, 79, 5, 86, 0, 5, 5, 87, 86, 0, 5, 73, 7, 75, 0, 1, 74, 0, 76})
	f.Add([]byte{66, 6, 0, 26, 1, 37, 24, 5, 71, 4, 74, 0, 0, 77, 70, 2, 0, 1})
	f.Add([]byte{68, 7, 4, 1, 60, 61, 4, 62, 69})
	f.Add([]byte{63, 3, 4, 75, 1, 65, 5, 4, 1, 2, 72, 73})
	f.Add([]byte{70, 4, 4, 5, 6, 35, 72, 2, 4, 0, 73, 3, 70, 3, 4, 5})
	f.Add(fuzzLine([]string{"BLPOP", "{k}a", "0"}))
	f.Add(fuzzLine([]string{"LPUSH", "{k}a", "1"}))
	f.Add(fuzzLine([]string{"BLMPOP", "0", "1", "{k}a", "LEFT"}))
	f.Add(fuzzLine([]string{"BZPOPMIN", "{k}a", "{k}b", "0"}))
	f.Add(fuzzLine([]string{"BZMPOP", "0.5", "2", "{k}a", "{k}b", "MAX", "COUNT", "2"}))
	f.Add(fuzzLine([]string{"XREAD", "BLOCK", "0", "STREAMS", "{k}a", "$"}))
	f.Add(fuzzLine([]string{"XREADGROUP", "GROUP", "x", "x", "BLOCK", "0", "STREAMS", "{k}a", ">"}))
	// More byte seeds, found useful for SORT, OBJECT, MEMORY USAGE, COMMAND GETKEYS, RESTORE, CONFIG, WAIT.
	f.Add([]byte{18, 4, 0, 7, 5, 6, 64, 5, 0, 50, 20, 4, 5, 64, 4, 0, 49, 52, 1, 66, 2, 57, 1})
	f.Add([]byte{0, 3, 0, 5, 15, 67, 4, 59, 0, 60, 4, 71, 5, 61, 63, 0, 52, 1, 63, 4, 2, 4, 15, 39})
	f.Add([]byte{58, 2, 0, 5, 62, 1, 0, 72, 2, 54, 65, 69, 2, 4, 5, 68, 2, 0, 5})
	obj, freq, idle := byte(slices.Index(fuzzCommands, "OBJECT")), byte(slices.Index(fuzzWords, "FREQ")), byte(slices.Index(fuzzWords, "IDLETIME"))
	f.Add([]byte{obj, 2, freq, 0, obj, 2, idle, 1, obj, 3, idle, 0, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		st := store.New(1 << 20)
		s, err := New(Config{Replication: Standalone{}}, st, prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		s.SetView(testView(t, "p0-i0"))
		p1, p2 := net.Pipe()
		defer p1.Close()
		defer p2.Close()
		c := s.newConn(p1)
		c.wr = resp.NewWriter(io.Discard)
		for len(in) >= 2 {
			name := fuzzCommands[int(in[0])%len(fuzzCommands)]
			n := int(in[1]) % 8
			in = in[2:]
			argv := [][]byte{[]byte(name)}
			for ; n > 0 && len(in) > 0; n-- {
				argv = append(argv, []byte(fuzzWords[int(in[0])%len(fuzzWords)]))
				in = in[1:]
			}
			mark := c.wr.Len()
			s.dispatch(c, argv)
			if w := c.waiting; w != nil {
				// A blocking command that would wait: join and leave as CLIENT UNBLOCK does.
				c.waiting = nil
				s.register(w)
				s.unblockClient(c.id, false)
			}
			out := c.wr.Bytes()[mark:]
			if len(out) == 0 || !strings.ContainsRune("+-:$*_~%", rune(out[0])) {
				t.Fatalf("%q: reply %q", argv, out)
			}
			if err := c.wr.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// fuzzLine encodes a command line of fuzzCommands and fuzzWords as FuzzCommandArguments
// reads it.
func fuzzLine(line []string) []byte {
	var out []byte
	for i, c := range fuzzCommands {
		if c == line[0] {
			out = append(out, byte(i), byte(len(line)-1))
		}
	}
	for _, w := range line[1:] {
		for i, x := range fuzzWords {
			if x == w {
				out = append(out, byte(i))
				break
			}
		}
	}
	return out
}
