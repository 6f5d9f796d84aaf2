package server

import (
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/store"
)

// send writes a command without reading its reply.
func (c *testClient) send(args ...string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, encodeCmd(args...)); err != nil {
		c.t.Fatal(err)
	}
}

// read reads exactly len(want) bytes of reply and compares.
func (c *testClient) read(want string) {
	c.t.Helper()
	if err := c.nc.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		c.t.Fatal(err)
	}
	got := make([]byte, len(want))
	n, err := io.ReadFull(c.br, got)
	if err != nil || string(got) != want {
		c.t.Fatalf("got %q (err %v)\nwant %q", got[:n], err, want)
	}
}

// waitBlocked waits until INFO clients reports n blocked clients.
func waitBlocked(t *testing.T, s *Server, n int) {
	t.Helper()
	want := fmt.Sprintf("blocked_clients:%d\r\n", n)
	for deadline := time.Now().Add(5 * time.Second); ; {
		info := s.Info("clients")
		if strings.Contains(info, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %q:\n%s", want, info)
		}
		time.Sleep(time.Millisecond) // polling, not synchronisation
	}
}

func bulks(items ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(items))
	for _, it := range items {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(it), it)
	}
	return b.String()
}

type step struct{ cmd, want string }

func steps(pairs ...string) []step {
	out := make([]step, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, step{pairs[i], pairs[i+1]})
	}
	return out
}

// TestBlockingServedByWrites: one client blocks, another writes; the blocked client gets
// the reply Redis gives, and the writer's next command already sees the pop done.
func TestBlockingServedByWrites(t *testing.T) {
	wrongType := "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
	tests := []struct {
		name  string
		setup []step
		block []string
		write []step // by the other client, after the first has blocked
		want  string // the blocked client's reply
		after []step // by the other client, after the reply
	}{
		{name: "blpop rpush", block: []string{"BLPOP", "{k}a", "0"},
			write: steps(encodeCmd("RPUSH", "{k}a", "x", "y"), ":2\r\n", encodeCmd("LLEN", "{k}a"), ":1\r\n"),
			want:  bulks("{k}a", "x")},
		{name: "brpop second key lpush", block: []string{"BRPOP", "{k}a", "{k}b", "0"},
			write: steps(encodeCmd("LPUSH", "{k}b", "x", "y"), ":2\r\n"),
			want:  bulks("{k}b", "x"), after: steps(encodeCmd("LRANGE", "{k}b", "0", "-1"), bulks("y"))},
		{name: "blmpop count", block: []string{"BLMPOP", "0", "2", "{k}a", "{k}b", "RIGHT", "COUNT", "2"},
			write: steps(encodeCmd("RPUSH", "{k}b", "1", "2", "3"), ":3\r\n"),
			want:  "*2\r\n$4\r\n{k}b\r\n" + bulks("3", "2")},
		{name: "blmove", block: []string{"BLMOVE", "{k}a", "{k}d", "RIGHT", "LEFT", "0"},
			write: steps(encodeCmd("RPUSH", "{k}a", "1", "2"), ":2\r\n"),
			want:  "$1\r\n2\r\n", after: steps(encodeCmd("LRANGE", "{k}d", "0", "-1"), bulks("2"), encodeCmd("LRANGE", "{k}a", "0", "-1"), bulks("1"))},
		{name: "brpoplpush woken by rename", setup: steps(encodeCmd("RPUSH", "{k}t", "1", "2"), ":2\r\n"),
			block: []string{"BRPOPLPUSH", "{k}a", "{k}d", "0"},
			write: steps(encodeCmd("RENAME", "{k}t", "{k}a"), "+OK\r\n"),
			want:  "$1\r\n2\r\n", after: steps(encodeCmd("LRANGE", "{k}d", "0", "-1"), bulks("2"))},
		{name: "woken by copy", setup: steps(encodeCmd("RPUSH", "{k}t", "1"), ":1\r\n"),
			block: []string{"BLPOP", "{k}a", "0"},
			write: steps(encodeCmd("COPY", "{k}t", "{k}a"), ":1\r\n", encodeCmd("EXISTS", "{k}a"), ":0\r\n"),
			want:  bulks("{k}a", "1")},
		{name: "woken by lmove", setup: steps(encodeCmd("RPUSH", "{k}t", "1"), ":1\r\n"),
			block: []string{"BLPOP", "{k}a", "0"},
			write: steps(encodeCmd("LMOVE", "{k}t", "{k}a", "LEFT", "LEFT"), "$1\r\n1\r\n"),
			want:  bulks("{k}a", "1")},
		{name: "chained blmove", block: []string{"BLMOVE", "{k}a", "{k}b", "LEFT", "LEFT", "0"},
			// A second client waits on {k}b: served by the first one's move.
			write: steps(encodeCmd("RPUSH", "{k}a", "1"), ":1\r\n", encodeCmd("LLEN", "{k}b"), ":1\r\n"),
			want:  "$1\r\n1\r\n"},
		{name: "blmove destination of another type", setup: steps(encodeCmd("SET", "{k}d", "s"), "+OK\r\n"),
			block: []string{"BLMOVE", "{k}a", "{k}d", "LEFT", "LEFT", "0"},
			write: steps(encodeCmd("RPUSH", "{k}a", "1"), ":1\r\n"),
			want:  wrongType, after: steps(encodeCmd("LLEN", "{k}a"), ":1\r\n")},
		{name: "key of another type meanwhile", block: []string{"BLPOP", "{k}a", "0"},
			write: steps(encodeCmd("SET", "{k}a", "s"), "+OK\r\n", encodeCmd("DEL", "{k}a"), ":1\r\n",
				encodeCmd("RPUSH", "{k}a", "z"), ":1\r\n"),
			want: bulks("{k}a", "z")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, dial := startServer(t, Config{Replication: Standalone{}})
			blocked, writer := dial(), dial()
			for _, st := range tc.setup {
				writer.expect(st.cmd, st.want)
			}
			blocked.send(tc.block...)
			waitBlocked(t, s, 1)
			var chained *testClient
			if tc.name == "chained blmove" {
				chained = dial()
				chained.send("BLPOP", "{k}b", "0")
				waitBlocked(t, s, 2)
				tc.write[1].want = ":0\r\n" // the second client popped it
			}
			for _, st := range tc.write {
				writer.expect(st.cmd, st.want)
			}
			blocked.read(tc.want)
			if chained != nil {
				chained.read(bulks("{k}b", "1"))
			}
			for _, st := range tc.after {
				writer.expect(st.cmd, st.want)
			}
			waitBlocked(t, s, 0)
		})
	}
}

// TestBlockingAnswersAtOnce: with data, a wrong type or a bad argument there is no wait.
func TestBlockingAnswersAtOnce(t *testing.T) {
	_, dial := startServer(t, Config{Replication: Standalone{}})
	c := dial()
	wrongType := "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
	for _, st := range steps(
		encodeCmd("RPUSH", "{k}a", "1", "2", "3"), ":3\r\n",
		encodeCmd("SET", "{k}s", "x"), "+OK\r\n",
		encodeCmd("BLPOP", "{k}none", "{k}a", "5"), bulks("{k}a", "1"),
		encodeCmd("BRPOP", "{k}a", "{k}a", "0"), bulks("{k}a", "3"),
		encodeCmd("BLPOP", "{k}none", "{k}s", "0"), wrongType,
		encodeCmd("BLPOP", "{k}a", "{k}s", "0"), bulks("{k}a", "2"),
		encodeCmd("BLMOVE", "{k}s", "{k}d", "LEFT", "LEFT", "0"), wrongType,
		encodeCmd("RPUSH", "{k}a", "4"), ":1\r\n",
		encodeCmd("BLMOVE", "{k}a", "{k}s", "LEFT", "LEFT", "0"), wrongType,
		encodeCmd("BRPOPLPUSH", "{k}a", "{k}d", "0"), "$1\r\n4\r\n",
		encodeCmd("BLMPOP", "0", "1", "{k}d", "LEFT", "COUNT", "9"), "*2\r\n$4\r\n{k}d\r\n"+bulks("4"),
		encodeCmd("BLPOP", "{k}a", "-1"), "-ERR timeout is negative\r\n",
		encodeCmd("BLPOP", "{k}a", "inf"), "-ERR timeout is negative\r\n",
		encodeCmd("BLPOP", "{k}a", "1e400"), "-ERR timeout is negative\r\n",
		encodeCmd("BLPOP", "{k}a", "x"), "-ERR timeout is not a float or out of range\r\n",
		encodeCmd("BLPOP", "{k}a", "nan"), "-ERR timeout is not a float or out of range\r\n",
		encodeCmd("BLPOP", "{k}a"), "-ERR wrong number of arguments for 'blpop' command\r\n",
		encodeCmd("BLPOP", "{k}a", "{z}b", "0"), "-"+errCrossSlot+"\r\n",
		encodeCmd("BLPOP", "a", "0"), "-MOVED 15495 127.0.0.1:7001\r\n",
		encodeCmd("BLMOVE", "{k}a", "{k}d", "UP", "LEFT", "0"), "-ERR syntax error\r\n",
		encodeCmd("BLMOVE", "{k}a", "{k}d", "LEFT", "LEFT", "x"), "-ERR timeout is not a float or out of range\r\n",
		encodeCmd("BLMPOP", "x", "0", "{k}a", "LEFT"), "-ERR numkeys should be greater than 0\r\n",
		encodeCmd("BLMPOP", "x", "1", "{k}a", "LEFT", "COUNT", "0"), "-ERR count should be greater than 0\r\n",
		encodeCmd("BLMPOP", "x", "1", "{k}a", "MID"), "-ERR syntax error\r\n",
		encodeCmd("BLMPOP", "x", "1", "{k}a", "LEFT"), "-ERR timeout is not a float or out of range\r\n",
		encodeCmd("BLMPOP", "0", "1", "{k}a"), "-ERR wrong number of arguments for 'blmpop' command\r\n",
		encodeCmd("CLIENT", "UNBLOCK", "1", "foo"), "-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n",
		encodeCmd("CLIENT", "UNBLOCK", "x"), "-ERR value is not an integer or out of range\r\n",
		encodeCmd("CLIENT", "UNBLOCK", "1", "timeout", "3"), "-ERR unknown subcommand or wrong number of arguments for 'unblock'. Try CLIENT HELP.\r\n",
		encodeCmd("CLIENT", "UNBLOCK", "999"), ":0\r\n",
	) {
		c.expect(st.cmd, st.want)
	}
}

// TestBlockingTimeout: a timed-out wait answers a null array (RESP3: null), whichever the
// command, as Redis 7.0 does.
func TestBlockingTimeout(t *testing.T) {
	s, dial := startServer(t, Config{Replication: Standalone{}})
	c := dial()
	for _, args := range [][]string{
		{"BLPOP", "{k}a", "0.01"}, {"BRPOP", "{k}a", "{k}b", "0.01"}, {"BLMPOP", "0.01", "1", "{k}a", "LEFT"},
		{"BLMOVE", "{k}a", "{k}b", "LEFT", "LEFT", "0.01"}, {"BRPOPLPUSH", "{k}a", "{k}b", "0.01"},
	} {
		c.expect(encodeCmd(args...), "*-1\r\n")
	}
	// RESP3: HELLO's reply, up to the PING sent after it.
	c.send("HELLO", "3")
	c.send("PING")
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "+PONG\r\n" {
			break
		}
	}
	c.expect(encodeCmd("BRPOPLPUSH", "{k}a", "{k}b", "0.01"), "_\r\n")
	c.expect(encodeCmd("BLPOP", "{k}a", "0.01"), "_\r\n")
	waitBlocked(t, s, 0)
}

// TestBlockingFIFO: clients are served in the order they blocked, whatever keys they
// wait on.
func TestBlockingFIFO(t *testing.T) {
	s, dial := startServer(t, Config{Replication: Standalone{}})
	w := dial()
	cs := []*testClient{dial(), dial(), dial()}
	cs[0].send("BLPOP", "{k}b", "{k}a", "0")
	waitBlocked(t, s, 1)
	cs[1].send("BLPOP", "{k}a", "0")
	waitBlocked(t, s, 2)
	cs[2].send("BRPOP", "{k}a", "{k}c", "0")
	waitBlocked(t, s, 3)
	w.expect(encodeCmd("RPUSH", "{k}a", "1", "2", "3", "4"), ":4\r\n")
	cs[0].read(bulks("{k}a", "1"))
	cs[1].read(bulks("{k}a", "2"))
	cs[2].read(bulks("{k}a", "4")) // BRPOP takes the tail
	w.expect(encodeCmd("LRANGE", "{k}a", "0", "-1"), bulks("3"))
	waitBlocked(t, s, 0)
}

// TestBlockedClientKeepsItsPipeline: commands sent after the blocking one wait for it and
// then run; other clients are not held up meanwhile.
func TestBlockedClientKeepsItsPipeline(t *testing.T) {
	s, dial := startServer(t, Config{Replication: Standalone{}})
	b, w := dial(), dial()
	if _, err := io.WriteString(b.nc, encodeCmd("BLPOP", "{k}a", "0")+encodeCmd("PING")+encodeCmd("LLEN", "{k}a")); err != nil {
		t.Fatal(err)
	}
	waitBlocked(t, s, 1)
	w.expect(encodeCmd("PING"), "+PONG\r\n")
	w.expect(encodeCmd("CLIENT", "ID"), ":2\r\n")
	w.send("CLIENT", "LIST")
	line, err := w.br.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if _, err := fmt.Sscanf(line, "$%d", &n); err != nil {
		t.Fatalf("CLIENT LIST reply %q", line)
	}
	list := make([]byte, n+2)
	if _, err := io.ReadFull(w.br, list); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(list), "id=1 ") || !regexpFind(string(list), "id=1 .* flags=b .* cmd=blpop ") ||
		!regexpFind(string(list), "id=2 .* flags=N .* cmd=client|list ") {
		t.Fatalf("CLIENT LIST while client 1 is blocked:\n%s", list)
	}
	w.expect(encodeCmd("RPUSH", "{k}a", "x", "y"), ":2\r\n")
	b.read(bulks("{k}a", "x") + "+PONG\r\n:1\r\n")
}

func regexpFind(text, pattern string) bool {
	for _, line := range strings.Split(text, "\n") {
		parts := strings.Split(pattern, " .* ")
		rest, ok := line, true
		for _, p := range parts {
			i := strings.Index(rest, p)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(p):]
		}
		if ok {
			return true
		}
	}
	return false
}

// TestBlockedClientDisconnects: a client that goes away while blocked is forgotten; the
// next push is not popped for it.
func TestBlockedClientDisconnects(t *testing.T) {
	s, dial := startServer(t, Config{Replication: Standalone{}})
	b, w := dial(), dial()
	b.send("BLPOP", "{k}a", "0")
	waitBlocked(t, s, 1)
	b.nc.Close()
	waitBlocked(t, s, 0)
	w.expect(encodeCmd("RPUSH", "{k}a", "x"), ":1\r\n")
	w.expect(encodeCmd("LLEN", "{k}a"), ":1\r\n")
	for deadline := time.Now().Add(5 * time.Second); s.Clients() != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("%d clients after the blocked one left", s.Clients())
		}
		time.Sleep(time.Millisecond) // polling
	}
}

// TestClientUnblock: CLIENT UNBLOCK answers the waiter as a timeout, or with an error.
func TestClientUnblock(t *testing.T) {
	s, dial := startServer(t, Config{Replication: Standalone{}})
	b, w := dial(), dial()
	b.expect(encodeCmd("CLIENT", "ID"), ":1\r\n")
	b.send("BLMOVE", "{k}a", "{k}b", "LEFT", "LEFT", "0")
	waitBlocked(t, s, 1)
	w.expect(encodeCmd("CLIENT", "UNBLOCK", "1"), ":1\r\n")
	b.read("*-1\r\n")
	w.expect(encodeCmd("CLIENT", "UNBLOCK", "1"), ":0\r\n")
	b.send("BLPOP", "{k}a", "0")
	waitBlocked(t, s, 1)
	w.expect(encodeCmd("CLIENT", "UNBLOCK", "1", "ERROR"), ":1\r\n")
	b.read("-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n")
	b.expect(encodeCmd("PING"), "+PONG\r\n")
	waitBlocked(t, s, 0)
}

// TestBlockedSlotMovesAway: a client blocked on a slot that leaves the partition is sent
// after it with MOVED; one on a slot nobody serves gets CLUSTERDOWN.
func TestBlockedSlotMovesAway(t *testing.T) {
	s, dial := startServer(t, Config{Replication: Standalone{}})
	b, other := dial(), dial()
	b.send("BLPOP", "{k}a", "0")
	other.send("BLPOP", "{x}", "{x}b", "0") // slot 16287: partition 1's
	other.read("-MOVED 16287 127.0.0.1:7001\r\n")
	waitBlocked(t, s, 1)
	// Migrating: still this partition's slot, the client waits on.
	s.SetView(movingView(t, "p0-i0", cluster.MoveMigrating))
	b2 := dial()
	b2.send("BLPOP", "{z}a", "0") // another slot of partition 0, unaffected
	waitBlocked(t, s, 2)
	// The move is done: the slot is partition 2's.
	m, err := cluster.NewPartitionMap(2, false)
	if err != nil {
		t.Fatal(err)
	}
	m.Version = 10
	m.Partitions[0].Slots = [][2]int{{0, slotK - 1}, {slotK + 1, 8191}}
	m.Partitions = append(m.Partitions, cluster.PartitionSlots{ID: 2, Slots: [][2]int{{slotK, slotK}}})
	s.SetView(viewOf(t, m, "p0-i0"))
	b.read(fmt.Sprintf("-MOVED %d 127.0.0.1:7002\r\n", slotK))
	waitBlocked(t, s, 1)
	s.SetView(nil) // (no view: nothing changes)
	s.SetView(viewOf(t, m, "p0-i0"))
	b.expect(encodeCmd("PING"), "+PONG\r\n")
	b2.send("PING") // queued behind its BLPOP
	other.expect(encodeCmd("RPUSH", "{z}a", "v"), ":1\r\n")
	b2.read(bulks("{z}a", "v") + "+PONG\r\n")
}

// switchable is a replication whose primary role can be taken away.
type switchable struct {
	Standalone
	redirect atomic.Pointer[string]
}

func (r *switchable) Admit() (string, string) {
	if p := r.redirect.Load(); p != nil {
		return *p, ""
	}
	return "", ""
}

// TestBlockedPrimaryDemoted: when the instance stops being its partition's primary, a
// blocked client gets Redis's UNBLOCKED error and its connection closes.
func TestBlockedPrimaryDemoted(t *testing.T) {
	repl := &switchable{}
	s, dial := startServer(t, Config{Replication: repl})
	b := dial()
	b.send("BLPOP", "{k}a", "0")
	waitBlocked(t, s, 1)
	to := "127.0.0.1:7009"
	repl.redirect.Store(&to)
	b.read("-" + errUnblockedDemoted + "\r\n")
	if n, err := b.br.ReadByte(); err != io.EOF {
		t.Fatalf("after UNBLOCKED the connection stays open: read %q, %v", n, err)
	}
	waitBlocked(t, s, 0)
}

// TestBlockedOnImportingSlot: a client that waits on a slot moving here (after ASKING) is
// served by the keys the source hands over, and stays when the slot then becomes this
// partition's.
func TestBlockedOnImportingSlot(t *testing.T) {
	s, dial := startServer(t, Config{Partition: 2, Replication: Standalone{}})
	s.SetView(movingView(t, "p2-i0", cluster.MoveImporting))
	b, src := dial(), dial()
	b.expect(encodeCmd("ASKING"), "+OK\r\n")
	b.send("BLPOP", "{k}a", "0")
	waitBlocked(t, s, 1)
	st := store.New(1 << 20)
	if _, err := st.Push([]byte("{k}a"), [][]byte{[]byte("moved")}, false, false); err != nil {
		t.Fatal(err)
	}
	_, ops := st.DumpKeys(slotK, 10, 1<<20)
	if len(ops) != 1 {
		t.Fatalf("dump of {k}a: %d operations", len(ops))
	}
	src.expect(encodeCmd("SLOTIMPORT", "9", fmt.Sprint(slotK), string(ops[0])), "+OK\r\n")
	b.read(bulks("{k}a", "moved"))
	b.expect(encodeCmd("ASKING")+encodeCmd("LLEN", "{k}a"), "+OK\r\n:0\r\n")
}
