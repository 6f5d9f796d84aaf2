package server

import (
	"io"
	"net"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/insightgrid/insight/grid/resp"
	"github.com/insightgrid/insight/grid/store"
)

// fuzzCommands are the commands whose argument parsing FuzzCommandArguments drives: the
// set, list, hash, string and key commands.
var fuzzCommands = strings.Fields("SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP SRANDMEMBER SMOVE " +
	"SINTER SINTERCARD SUNION SDIFF SINTERSTORE SUNIONSTORE SDIFFSTORE SSCAN " +
	"LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE LINDEX LSET LINSERT LREM LTRIM LPOS LMOVE RPOPLPUSH LMPOP " +
	"HSETNX HKEYS HVALS HSTRLEN HINCRBYFLOAT HRANDFIELD HSCAN HSET " +
	"GETEX GETDEL GETSET MSETNX SETRANGE GETRANGE SUBSTR INCRBYFLOAT LCS " +
	"RENAME RENAMENX COPY TOUCH EXPIRETIME PEXPIRETIME RANDOMKEY " +
	"SET TYPE DEL EXPIRE " +
	"DUMP RESTORE SORT SORT_RO OBJECT MEMORY MOVE WAIT DEBUG COMMAND CONFIG")

// fuzzWords are the arguments drawn: keys of one slot (and one of another), numbers at the
// edges of their ranges, options, text.
var fuzzWords = strings.Fields("{k}a {k}b {k}c {j}x 0 1 2 3 -1 -2 -100 100 9223372036854775807 " +
	"-9223372036854775808 18446744073709551616 x LEFT RIGHT BEFORE AFTER LIMIT COUNT MATCH RANK MAXLEN * {k}* -0 +1 " +
	"WITHVALUES 1.5 inf 1e400 0x10 EX PX EXAT PXAT PERSIST REPLACE DB 536870911 IDX LEN MINMATCHLEN WITHMATCHLEN " +
	"ABSTTL IDLETIME FREQ ALPHA DESC ASC STORE BY GET # nosort ENCODING REFCOUNT USAGE SAMPLES GETKEYS GETKEYSANDFLAGS " +
	"SORT HELP hz timeout maxmemory-policy notify-keyspace-events allkeys-lru KEA")

// FuzzCommandArguments sends command lines built from the input through dispatch: every
// one gets a well-formed reply and none panics or hangs.
func FuzzCommandArguments(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3})
	f.Add([]byte{10, 3, 4, 0, 1, 22, 9})
	f.Add([]byte{33, 4, 4, 0, 20, 19})
	// SORT with options, OBJECT, MEMORY USAGE, COMMAND GETKEYS, RESTORE, CONFIG, WAIT.
	f.Add([]byte{18, 4, 0, 7, 5, 6, 64, 5, 0, 50, 20, 4, 5, 64, 4, 0, 49, 52, 1, 66, 2, 57, 1})
	f.Add([]byte{0, 3, 0, 5, 15, 67, 4, 59, 0, 60, 4, 71, 5, 61, 63, 0, 52, 1, 63, 4, 2, 4, 15, 39})
	f.Add([]byte{58, 2, 0, 5, 62, 1, 0, 72, 2, 54, 65, 69, 2, 4, 5, 68, 2, 0, 5})
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
