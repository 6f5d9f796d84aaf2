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
// set, list, hash, string and key commands.
var fuzzCommands = strings.Fields("SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP SRANDMEMBER SMOVE " +
	"SINTER SINTERCARD SUNION SDIFF SINTERSTORE SUNIONSTORE SDIFFSTORE SSCAN " +
	"LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE LINDEX LSET LINSERT LREM LTRIM LPOS LMOVE RPOPLPUSH LMPOP " +
	"HSETNX HKEYS HVALS HSTRLEN HINCRBYFLOAT HRANDFIELD HSCAN HSET " +
	"GETEX GETDEL GETSET MSETNX SETRANGE GETRANGE SUBSTR INCRBYFLOAT LCS " +
	"RENAME RENAMENX COPY TOUCH EXPIRETIME PEXPIRETIME RANDOMKEY " +
	"SET TYPE DEL EXPIRE OBJECT")

// fuzzWords are the arguments drawn: keys of one slot (and one of another), numbers at the
// edges of their ranges, options, text.
var fuzzWords = strings.Fields("{k}a {k}b {k}c {j}x 0 1 2 3 -1 -2 -100 100 9223372036854775807 " +
	"-9223372036854775808 18446744073709551616 x LEFT RIGHT BEFORE AFTER LIMIT COUNT MATCH RANK MAXLEN * {k}* -0 +1 " +
	"WITHVALUES 1.5 inf 1e400 0x10 EX PX EXAT PXAT PERSIST REPLACE DB 536870911 IDX LEN MINMATCHLEN WITHMATCHLEN IDLETIME FREQ")

// FuzzCommandArguments sends command lines built from the input through dispatch: every
// one gets a well-formed reply and none panics or hangs.
func FuzzCommandArguments(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3})
	f.Add([]byte{10, 3, 4, 0, 1, 22, 9})
	f.Add([]byte{33, 4, 4, 0, 20, 19})
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
