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
	c.expect(encodeCmd("XGROUP", "CREATE", "{k}g", "g", "$", "MKSTREAM"), "+OK\r\n")
	for _, args := range [][]string{
		{"BLPOP", "{k}a", "0.01"}, {"BRPOP", "{k}a", "{k}b", "0.01"}, {"BLMPOP", "0.01", "1", "{k}a", "LEFT"},
		{"BLMOVE", "{k}a", "{k}b", "LEFT", "LEFT", "0.01"}, {"BRPOPLPUSH", "{k}a", "{k}b", "0.01"},
		{"BZPOPMIN", "{k}a", "0.01"}, {"BZPOPMAX", "{k}a", "{k}b", "0.01"}, {"BZMPOP", "0.01", "1", "{k}a", "MAX"},
		{"XREAD", "BLOCK", "10", "STREAMS", "{k}a", "$"}, {"XREADGROUP", "GROUP", "g", "c", "BLOCK", "10", "STREAMS", "{k}g", ">"},
	} {
		c.expect(encodeCmd(args...), "*-1\r\n")
	}
	c.hello3()
	c.expect(encodeCmd("BRPOPLPUSH", "{k}a", "{k}b", "0.01"), "_\r\n")
	c.expect(encodeCmd("BLPOP", "{k}a", "0.01"), "_\r\n")
	c.expect(encodeCmd("BZPOPMIN", "{k}a", "0.01"), "_\r\n")
	c.expect(encodeCmd("XREAD", "BLOCK", "10", "STREAMS", "{k}a", "0-0"), "_\r\n")
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

// hello3 switches c to RESP3, reading HELLO's reply up to a PING sent after it.
func (c *testClient) hello3() {
	c.t.Helper()
	c.send("HELLO", "3")
	c.send("PING")
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			c.t.Fatal(err)
		}
		if line == "+PONG\r\n" {
			return
		}
	}
}

// entry is a stream entry's reply: [id, [field, value, ...]].
func entry(id string, fv ...string) string { return "*2\r\n" + bulk(id) + bulks(fv...) }

func bulk(s string) string { return fmt.Sprintf("$%d\r\n%s\r\n", len(s), s) }

// TestBlockingZSetsAndStreamsServedByWrites: a client blocked in BZPOPMIN, BZPOPMAX,
// BZMPOP, XREAD or XREADGROUP is served by the writes that give its key what it waits
// for, with Redis 7.0's reply (RESP2 and RESP3), and not by the others.
func TestBlockingZSetsAndStreamsServedByWrites(t *testing.T) {
	noGroup := "-" + errNoGroupBlocked + "\r\n"
	tests := []struct {
		name   string
		resp3  bool // the blocked client speaks RESP3
		setup  []step
		block  []string
		write  []step // by the other client, after the first has blocked
		want   string // the blocked client's reply
		after  []step // by the other client, after the reply
		second []string
	}{
		{name: "bzpopmin zadd", block: []string{"BZPOPMIN", "{k}z", "0"},
			write: steps(encodeCmd("ZADD", "{k}z", "2", "b", "1", "a"), ":2\r\n", encodeCmd("ZCARD", "{k}z"), ":1\r\n"),
			want:  bulks("{k}z", "a", "1")},
		{name: "bzpopmax second key", block: []string{"BZPOPMAX", "{k}y", "{k}z", "0"},
			write: steps(encodeCmd("ZADD", "{k}z", "1", "a", "2.5", "b"), ":2\r\n"),
			want:  bulks("{k}z", "b", "2.5"), after: steps(encodeCmd("ZRANGE", "{k}z", "0", "-1"), bulks("a"))},
		{name: "bzpopmin resp3", resp3: true, block: []string{"BZPOPMIN", "{k}z", "0"},
			write: steps(encodeCmd("ZADD", "{k}z", "1", "a"), ":1\r\n"),
			want:  "*3\r\n" + bulk("{k}z") + bulk("a") + ",1\r\n"},
		{name: "bzmpop count", block: []string{"BZMPOP", "0", "2", "{k}y", "{k}z", "MAX", "COUNT", "5"},
			write: steps(encodeCmd("ZADD", "{k}z", "1", "a", "2", "b"), ":2\r\n", encodeCmd("EXISTS", "{k}z"), ":0\r\n"),
			want:  "*2\r\n" + bulk("{k}z") + "*2\r\n" + bulks("b", "2") + bulks("a", "1")},
		{name: "bzmpop resp3", resp3: true, block: []string{"BZMPOP", "0", "1", "{k}z", "MIN"},
			write: steps(encodeCmd("ZADD", "{k}z", "1", "a", "2", "b"), ":2\r\n"),
			want:  "*2\r\n" + bulk("{k}z") + "*1\r\n*2\r\n" + bulk("a") + ",1\r\n"},
		{name: "woken by zincrby", block: []string{"BZPOPMIN", "{k}z", "0"},
			write: steps(encodeCmd("ZINCRBY", "{k}z", "1.5", "m"), bulk("1.5")),
			want:  bulks("{k}z", "m", "1.5")},
		{name: "woken by zunionstore", setup: steps(encodeCmd("ZADD", "{k}s", "3", "x"), ":1\r\n"),
			block: []string{"BZPOPMIN", "{k}z", "0"},
			write: steps(encodeCmd("ZUNIONSTORE", "{k}z", "1", "{k}s"), ":1\r\n"),
			want:  bulks("{k}z", "x", "3")},
		{name: "woken by zinterstore", setup: steps(encodeCmd("ZADD", "{k}s", "3", "x"), ":1\r\n"),
			block: []string{"BZPOPMIN", "{k}z", "0"},
			write: steps(encodeCmd("ZINTERSTORE", "{k}z", "2", "{k}s", "{k}s"), ":1\r\n"),
			want:  bulks("{k}z", "x", "6")},
		{name: "woken by zdiffstore", setup: steps(encodeCmd("ZADD", "{k}s", "3", "x"), ":1\r\n"),
			block: []string{"BZPOPMAX", "{k}z", "0"},
			write: steps(encodeCmd("ZDIFFSTORE", "{k}z", "1", "{k}s"), ":1\r\n"),
			want:  bulks("{k}z", "x", "3")},
		{name: "woken by zrangestore", setup: steps(encodeCmd("ZADD", "{k}s", "3", "x", "4", "y"), ":2\r\n"),
			block: []string{"BZMPOP", "0", "1", "{k}z", "MIN"},
			write: steps(encodeCmd("ZRANGESTORE", "{k}z", "{k}s", "0", "0"), ":1\r\n"),
			want:  "*2\r\n" + bulk("{k}z") + "*1\r\n" + bulks("x", "3")},
		{name: "woken by rename", setup: steps(encodeCmd("ZADD", "{k}s", "3", "x"), ":1\r\n"),
			block: []string{"BZPOPMIN", "{k}z", "0"},
			write: steps(encodeCmd("RENAME", "{k}s", "{k}z"), "+OK\r\n"),
			want:  bulks("{k}z", "x", "3")},
		{name: "zset waiter passes over a list", block: []string{"BZPOPMIN", "{k}z", "0"},
			write: steps(encodeCmd("RPUSH", "{k}z", "l"), ":1\r\n", encodeCmd("DEL", "{k}z"), ":1\r\n",
				encodeCmd("ZADD", "{k}z", "5", "q"), ":1\r\n"),
			want: bulks("{k}z", "q", "5")},
		{name: "list and zset waiters on one key", block: []string{"BLPOP", "{k}z", "0"},
			second: []string{"BZPOPMIN", "{k}z", "0"},
			// The zset serves the second waiter; the list later serves the first.
			write: steps(encodeCmd("ZADD", "{k}z", "1", "a"), ":1\r\n", encodeCmd("RPUSH", "{k}z2", "x"), ":1\r\n",
				encodeCmd("RENAME", "{k}z2", "{k}z"), "+OK\r\n"),
			want: bulks("{k}z", "x")},
		{name: "xread $", setup: steps(encodeCmd("XADD", "{k}x", "1-1", "f", "v"), bulk("1-1")),
			block: []string{"XREAD", "BLOCK", "0", "STREAMS", "{k}x", "$"},
			write: steps(encodeCmd("XADD", "{k}x", "2-1", "f", "w"), bulk("2-1")),
			want:  "*1\r\n*2\r\n" + bulk("{k}x") + "*1\r\n" + entry("2-1", "f", "w")},
		{name: "xread $ of a new stream", block: []string{"XREAD", "BLOCK", "0", "STREAMS", "{k}y", "{k}x", "$", "$"},
			write: steps(encodeCmd("XADD", "{k}x", "1-1", "f", "v"), bulk("1-1")),
			want:  "*1\r\n*2\r\n" + bulk("{k}x") + "*1\r\n" + entry("1-1", "f", "v")},
		{name: "xread id not reached", setup: steps(encodeCmd("XADD", "{k}x", "1-1", "f", "v"), bulk("1-1")),
			block: []string{"XREAD", "BLOCK", "0", "STREAMS", "{k}x", "5-0"},
			write: steps(encodeCmd("XADD", "{k}x", "3-0", "a", "1"), bulk("3-0"), encodeCmd("XADD", "{k}x", "6-0", "b", "2"), bulk("6-0")),
			want:  "*1\r\n*2\r\n" + bulk("{k}x") + "*1\r\n" + entry("6-0", "b", "2")},
		{name: "xread count", setup: steps(encodeCmd("XADD", "{k}t", "1-0", "a", "1"), bulk("1-0"), encodeCmd("XADD", "{k}t", "2-0", "b", "2"), bulk("2-0"),
			encodeCmd("XADD", "{k}t", "3-0", "c", "3"), bulk("3-0")),
			block: []string{"XREAD", "COUNT", "2", "BLOCK", "0", "STREAMS", "{k}x", "0-0"},
			write: steps(encodeCmd("RENAME", "{k}t", "{k}x"), "+OK\r\n"),
			want:  "*1\r\n*2\r\n" + bulk("{k}x") + "*2\r\n" + entry("1-0", "a", "1") + entry("2-0", "b", "2")},
		{name: "xread resp3", resp3: true, block: []string{"XREAD", "BLOCK", "0", "STREAMS", "{k}x", "$"},
			write: steps(encodeCmd("XADD", "{k}x", "1-1", "f", "v"), bulk("1-1")),
			want:  "%1\r\n" + bulk("{k}x") + "*1\r\n" + entry("1-1", "f", "v")},
		{name: "xread passes over a string", block: []string{"XREAD", "BLOCK", "0", "STREAMS", "{k}x", "$"},
			write: steps(encodeCmd("SET", "{k}x", "s"), "+OK\r\n", encodeCmd("DEL", "{k}x"), ":1\r\n",
				encodeCmd("XADD", "{k}x", "1-1", "f", "v"), bulk("1-1")),
			want: "*1\r\n*2\r\n" + bulk("{k}x") + "*1\r\n" + entry("1-1", "f", "v")},
		{name: "xreadgroup >", setup: steps(encodeCmd("XGROUP", "CREATE", "{k}x", "g", "$", "MKSTREAM"), "+OK\r\n"),
			block: []string{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}x", ">"},
			write: steps(encodeCmd("XADD", "{k}x", "1-1", "f", "v"), bulk("1-1")),
			want:  "*1\r\n*2\r\n" + bulk("{k}x") + "*1\r\n" + entry("1-1", "f", "v"),
			after: steps(encodeCmd("XPENDING", "{k}x", "g"), "*4\r\n:1\r\n"+bulk("1-1")+bulk("1-1")+"*1\r\n"+bulks("c", "1"))},
		{name: "xreadgroup noack", setup: steps(encodeCmd("XGROUP", "CREATE", "{k}x", "g", "$", "MKSTREAM"), "+OK\r\n"),
			block: []string{"XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "BLOCK", "0", "NOACK", "STREAMS", "{k}x", ">"},
			write: steps(encodeCmd("XADD", "{k}x", "1-1", "f", "v"), bulk("1-1")),
			want:  "*1\r\n*2\r\n" + bulk("{k}x") + "*1\r\n" + entry("1-1", "f", "v"),
			after: steps(encodeCmd("XPENDING", "{k}x", "g"), "*4\r\n:0\r\n$-1\r\n$-1\r\n*-1\r\n",
				encodeCmd("XINFO", "CONSUMERS", "{k}x", "g"), "*1\r\n*6\r\n"+bulk("name")+bulk("c"))},
		{name: "xreadgroup group destroyed", setup: steps(encodeCmd("XGROUP", "CREATE", "{k}x", "g", "$", "MKSTREAM"), "+OK\r\n"),
			block: []string{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}x", ">"},
			write: steps(encodeCmd("XGROUP", "DESTROY", "{k}x", "g"), ":1\r\n"),
			want:  noGroup},
		{name: "xreadgroup stream deleted", setup: steps(encodeCmd("XGROUP", "CREATE", "{k}x", "g", "$", "MKSTREAM"), "+OK\r\n"),
			block: []string{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}x", ">"},
			write: steps(encodeCmd("DEL", "{k}x"), ":1\r\n"),
			want:  "-" + errStreamGone + "\r\n"},
		{name: "xreadgroup stream flushed", setup: steps(encodeCmd("XGROUP", "CREATE", "{k}x", "g", "$", "MKSTREAM"), "+OK\r\n"),
			block: []string{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}x", ">"},
			write: steps(encodeCmd("FLUSHALL"), "+OK\r\n"),
			want:  "-" + errStreamGone + "\r\n"},
		{name: "xreadgroup stream replaced by another", setup: steps(encodeCmd("XGROUP", "CREATE", "{k}x", "g", "$", "MKSTREAM"), "+OK\r\n",
			encodeCmd("XADD", "{k}t", "1-1", "f", "v"), bulk("1-1")),
			block: []string{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}x", ">"},
			write: steps(encodeCmd("RENAME", "{k}t", "{k}x"), "+OK\r\n"),
			want:  noGroup},
		{name: "xgroup setid waits for the next xadd", setup: steps(encodeCmd("XADD", "{k}x", "1-1", "f", "v"), bulk("1-1"),
			encodeCmd("XGROUP", "CREATE", "{k}x", "g", "$"), "+OK\r\n"),
			block: []string{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}x", ">"},
			write: steps(encodeCmd("XGROUP", "SETID", "{k}x", "g", "0"), "+OK\r\n", encodeCmd("XADD", "{k}x", "2-1", "f", "w"), bulk("2-1")),
			want:  "*1\r\n*2\r\n" + bulk("{k}x") + "*2\r\n" + entry("1-1", "f", "v") + entry("2-1", "f", "w")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, dial := startServer(t, Config{Replication: Standalone{}})
			blocked, writer := dial(), dial()
			if tc.resp3 {
				blocked.hello3()
			}
			for _, st := range tc.setup {
				writer.expect(st.cmd, st.want)
			}
			blocked.send(tc.block...)
			waitBlocked(t, s, 1)
			var second *testClient
			if tc.second != nil {
				second = dial()
				second.send(tc.second...)
				waitBlocked(t, s, 2)
			}
			for _, st := range tc.write {
				writer.expect(st.cmd, st.want)
			}
			if second != nil {
				second.read(bulks("{k}z", "a", "1"))
			}
			blocked.read(tc.want)
			for _, st := range tc.after {
				writer.expect(st.cmd, st.want)
			}
			waitBlocked(t, s, 0)
		})
	}
}

// TestBlockingZSetsAndStreamsAnswerAtOnce: with data, a wrong type or a bad argument the
// sorted-set and stream blocking commands do not wait; XREAD and XREADGROUP without BLOCK
// never do.
func TestBlockingZSetsAndStreamsAnswerAtOnce(t *testing.T) {
	_, dial := startServer(t, Config{Replication: Standalone{}})
	c := dial()
	wrongType := "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
	notFloat := "-ERR timeout is not a float or out of range\r\n"
	for _, st := range steps(
		encodeCmd("ZADD", "{k}z", "1", "a", "2", "b", "3", "c"), ":3\r\n",
		encodeCmd("SET", "{k}s", "x"), "+OK\r\n",
		encodeCmd("XADD", "{k}x", "1-1", "f", "v"), bulk("1-1"),
		encodeCmd("XGROUP", "CREATE", "{k}x", "g", "0"), "+OK\r\n",
		encodeCmd("BZPOPMIN", "{k}none", "{k}z", "5"), bulks("{k}z", "a", "1"),
		encodeCmd("BZPOPMAX", "{k}z", "{k}z", "0"), bulks("{k}z", "c", "3"),
		encodeCmd("BZPOPMIN", "{k}none", "{k}s", "0"), wrongType,
		encodeCmd("BZPOPMIN", "{k}z", "{k}s", "0"), bulks("{k}z", "b", "2"),
		encodeCmd("BZPOPMIN", "{k}s", "{k}z", "0"), wrongType,
		encodeCmd("ZADD", "{k}z", "1", "a", "2", "b"), ":2\r\n",
		encodeCmd("BZMPOP", "0", "2", "{k}none", "{k}z", "MAX", "COUNT", "9"), "*2\r\n"+bulk("{k}z")+"*2\r\n"+bulks("b", "2")+bulks("a", "1"),
		encodeCmd("BZMPOP", "0", "1", "{k}s", "MIN"), wrongType,
		encodeCmd("BZPOPMIN", "{k}a", "-1"), "-ERR timeout is negative\r\n",
		encodeCmd("BZPOPMIN", "{k}a", "inf"), "-ERR timeout is negative\r\n",
		encodeCmd("BZPOPMAX", "{k}a", "x"), notFloat,
		encodeCmd("BZPOPMAX", "{k}a", "nan"), notFloat,
		encodeCmd("BZPOPMIN", "{k}a"), "-ERR wrong number of arguments for 'bzpopmin' command\r\n",
		encodeCmd("BZPOPMIN", "{k}a", "{z}b", "0"), "-"+errCrossSlot+"\r\n",
		encodeCmd("BZPOPMAX", "a", "0"), "-MOVED 15495 127.0.0.1:7001\r\n",
		encodeCmd("BZMPOP", "0", "2", "{k}a", "{z}b", "MIN"), "-"+errCrossSlot+"\r\n",
		encodeCmd("BZMPOP", "x", "0", "{k}a", "MIN"), "-ERR numkeys should be greater than 0\r\n",
		encodeCmd("BZMPOP", "x", "y", "{k}a", "MIN"), "-ERR numkeys should be greater than 0\r\n",
		encodeCmd("BZMPOP", "x", "1", "{k}a", "MIN", "COUNT", "0"), "-ERR count should be greater than 0\r\n",
		encodeCmd("BZMPOP", "x", "1", "{k}a", "MID"), "-ERR syntax error\r\n",
		encodeCmd("BZMPOP", "x", "2", "{k}a", "{k}b"), "-ERR syntax error\r\n",
		encodeCmd("BZMPOP", "0", "1", "{k}a", "MIN", "COUNT", "1", "COUNT", "1"), "-ERR syntax error\r\n",
		encodeCmd("BZMPOP", "x", "1", "{k}a", "MIN"), notFloat,
		encodeCmd("BZMPOP", "-1", "1", "{k}a", "MIN"), "-ERR timeout is negative\r\n",
		encodeCmd("BZMPOP", "0", "1", "{k}a"), "-ERR wrong number of arguments for 'bzmpop' command\r\n",
		encodeCmd("XREAD", "BLOCK", "0", "STREAMS", "{k}x", "0"), "*1\r\n*2\r\n"+bulk("{k}x")+"*1\r\n"+entry("1-1", "f", "v"),
		encodeCmd("XREAD", "BLOCK", "0", "STREAMS", "{k}s", "$"), wrongType,
		encodeCmd("XREAD", "BLOCK", "-1", "STREAMS", "{k}x", "$"), "-ERR timeout is negative\r\n",
		encodeCmd("XREAD", "BLOCK", "1.5", "STREAMS", "{k}x", "$"), "-ERR timeout is not an integer or out of range\r\n",
		encodeCmd("XREAD", "STREAMS", "{k}x", "$"), "*-1\r\n",
		encodeCmd("XREAD", "BLOCK", "0", "STREAMS", "{k}x", "{z}x", "$", "$"), "-"+errCrossSlot+"\r\n",
		encodeCmd("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}x", ">"), "*1\r\n*2\r\n"+bulk("{k}x")+"*1\r\n"+entry("1-1", "f", "v"),
		// History (an ID, not ">") answers at once, even when empty.
		encodeCmd("XREADGROUP", "GROUP", "g", "c2", "BLOCK", "0", "STREAMS", "{k}x", "0"), "*1\r\n*2\r\n"+bulk("{k}x")+"*0\r\n",
		encodeCmd("XREADGROUP", "GROUP", "nog", "c", "BLOCK", "0", "STREAMS", "{k}x", ">"), "-NOGROUP No such key '{k}x' or consumer group 'nog' in XREADGROUP with GROUP option\r\n",
		encodeCmd("XREADGROUP", "GROUP", "g", "c", "STREAMS", "{k}x", ">"), "*-1\r\n",
	) {
		c.expect(st.cmd, st.want)
	}
}
