package server

import (
	"io"
	"net"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/insightgrid/insight/grid/resp"
	"github.com/insightgrid/insight/grid/store"
)

// FuzzCommandGetKeys asks COMMAND GETKEYS about every command the grid serves (and its
// subcommands) with argument lists built from the input: each gets a well-formed reply, and
// none panics, whatever the command's key range or movable-keys function makes of them.
func FuzzCommandGetKeys(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3})
	f.Add([]byte{4, 0, 1, 2, 3, 4, 5, 6})
	f.Add([]byte{255, 255, 7, 7})
	st := store.New(1 << 20)
	s, err := New(Config{Replication: Standalone{}}, st, prometheus.NewRegistry())
	if err != nil {
		f.Fatal(err)
	}
	s.SetView(testView(f, "p0-i0"))
	var names [][]string
	for name, cmd := range s.cmds {
		names = append(names, []string{name})
		for sub := range cmd.subs {
			names = append(names, []string{name, sub})
		}
	}
	sort.Slice(names, func(i, j int) bool { return strings.Join(names[i], " ") < strings.Join(names[j], " ") })
	f.Fuzz(func(t *testing.T, in []byte) {
		p1, p2 := net.Pipe()
		defer p1.Close()
		defer p2.Close()
		c := s.newConn(p1)
		c.wr = resp.NewWriter(io.Discard)
		for len(in) >= 2 {
			argv := [][]byte{[]byte("COMMAND"), []byte("GETKEYS")}
			for _, w := range names[(int(in[0])<<8|int(in[1]))%len(names)] {
				argv = append(argv, []byte(w))
			}
			in = in[2:]
			for n := len(in) % 7; n > 0 && len(in) > 0; n-- {
				argv = append(argv, []byte(fuzzWords[int(in[0])%len(fuzzWords)]))
				in = in[1:]
			}
			mark := c.wr.Len()
			s.dispatch(c, argv)
			out := c.wr.Bytes()[mark:]
			if len(out) == 0 || (out[0] != '*' && out[0] != '-') {
				t.Fatalf("%q: reply %q", argv, out)
			}
			if err := c.wr.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestCommandGetKeysEveryCommand asks COMMAND GETKEYS about every command with a few
// argument lists: the keys it answers are the ones the grid routes the command by.
func TestCommandGetKeysEveryCommand(t *testing.T) {
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
	for name, cmd := range s.cmds {
		for _, args := range [][]string{{}, {"{k}a"}, {"2", "{k}a", "{k}b"}, {"{k}a", "1", "{k}b", "2", "{k}c"}} {
			argv := append([][]byte{[]byte("COMMAND"), []byte("GETKEYS"), []byte(name)}, bytesOf(args)...)
			mark := c.wr.Len()
			s.dispatch(c, argv)
			out := string(c.wr.Bytes()[mark:])
			if err := c.wr.Flush(); err != nil {
				t.Fatal(err)
			}
			if len(argv) < 4 || !cmd.arityOK(len(argv)-2) || (cmd.firstKey == 0 && cmd.movable == nil) {
				if !strings.HasPrefix(out, "-ERR ") {
					t.Errorf("%q: %q, want an error", argv, out)
				}
				continue
			}
			if first, _, _ := cmd.keyRange(argv[2:]); first > 0 && !strings.HasPrefix(out, "*") {
				t.Errorf("%q: %q, want the keys", argv, out)
			}
		}
	}
}

func bytesOf(args []string) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = []byte(a)
	}
	return out
}
