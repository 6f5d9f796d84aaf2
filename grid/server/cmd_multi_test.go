package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/internal/testutil"
	"github.com/insightgrid/insight/grid/resp"
	"github.com/insightgrid/insight/grid/store"
)

const wrongTypeReply = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"

// TestTransactionReplies runs scripts on one connection; every step's reply is Redis
// 7.0's in cluster mode ({k} is slot 7629, served here; {j} slot 3564, served here;
// "foo" slot 12182, served by partition 1).
func TestTransactionReplies(t *testing.T) {
	abort := "-" + errExecAbort + "\r\n"
	notInTx := "-ERR Command not allowed inside a transaction\r\n"
	tests := []struct {
		name  string
		steps []step
	}{
		{"queued and run", steps(
			"MULTI", "+OK\r\n",
			"SET {k}a 1", "+QUEUED\r\n",
			"INCR {k}a", "+QUEUED\r\n",
			"GET {k}a", "+QUEUED\r\n",
			"EXEC", "*3\r\n+OK\r\n:2\r\n$1\r\n2\r\n",
			"EXEC", "-ERR EXEC without MULTI\r\n")},
		{"empty", steps("MULTI", "+OK\r\n", "EXEC", "*0\r\n")},
		{"discard", steps(
			"SET {k}a 1", "+OK\r\n",
			"MULTI", "+OK\r\n", "SET {k}a 2", "+QUEUED\r\n", "DISCARD", "+OK\r\n",
			"GET {k}a", "$1\r\n1\r\n",
			"DISCARD", "-ERR DISCARD without MULTI\r\n")},
		{"without MULTI", steps("EXEC", "-ERR EXEC without MULTI\r\n", "DISCARD", "-ERR DISCARD without MULTI\r\n")},
		{"arity of the transaction commands", steps(
			"EXEC x", "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n",
			"DISCARD x", "-ERR wrong number of arguments for 'discard' command\r\n",
			"MULTI x", "-ERR wrong number of arguments for 'multi' command\r\n",
			"WATCH", "-ERR wrong number of arguments for 'watch' command\r\n",
			"UNWATCH x", "-ERR wrong number of arguments for 'unwatch' command\r\n")},
		{"EXEC with arguments discards", steps(
			"MULTI", "+OK\r\n", "SET {k}a 1", "+QUEUED\r\n",
			"EXEC x", "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n",
			"EXEC", "-ERR EXEC without MULTI\r\n")},
		{"nested MULTI does not abort", steps(
			"MULTI", "+OK\r\n", "MULTI", "-ERR MULTI calls can not be nested\r\n",
			"SET {k}a 5", "+QUEUED\r\n", "EXEC", "*1\r\n+OK\r\n")},
		{"WATCH inside MULTI does not abort", steps(
			"MULTI", "+OK\r\n", "WATCH {k}a", "-ERR WATCH inside MULTI is not allowed\r\n",
			"PING", "+QUEUED\r\n", "EXEC", "*1\r\n+PONG\r\n")},
		{"unknown command aborts", steps(
			"MULTI", "+OK\r\n", "SET {k}a 1", "+QUEUED\r\n",
			"NOPE x", "-ERR unknown command 'NOPE', with args beginning with: 'x' \r\n",
			"SET {k}a 2", "+QUEUED\r\n", "EXEC", abort, "GET {k}a", "$-1\r\n")},
		{"unknown subcommand aborts", steps(
			"MULTI", "+OK\r\n", "CLIENT NOPE", "-ERR unknown subcommand 'NOPE'. Try CLIENT HELP.\r\n", "EXEC", abort)},
		{"arity aborts", steps(
			"MULTI", "+OK\r\n", "GET", "-ERR wrong number of arguments for 'get' command\r\n", "EXEC", abort)},
		{"DISCARD with arguments aborts", steps(
			"MULTI", "+OK\r\n", "DISCARD x", "-ERR wrong number of arguments for 'discard' command\r\n", "EXEC", abort)},
		{"CROSSSLOT in one command aborts", steps(
			"MULTI", "+OK\r\n", "MGET {k}a {j}b", "-"+errCrossSlot+"\r\n", "GET {k}a", "+QUEUED\r\n", "EXEC", abort)},
		{"MOVED aborts", steps(
			"MULTI", "+OK\r\n", "GET foo", "-MOVED 12182 127.0.0.1:7001\r\n", "EXEC", abort)},
		{"CROSSSLOT across commands discards at EXEC", steps(
			"MULTI", "+OK\r\n", "SET {k}a 1", "+QUEUED\r\n", "SET {j}b 2", "+QUEUED\r\n",
			"EXEC", "-"+errCrossSlot+"\r\n",
			"EXEC", "-ERR EXEC without MULTI\r\n", "GET {k}a", "$-1\r\n")},
		{"routing of EXEC comes before EXECABORT", steps(
			"MULTI", "+OK\r\n", "SET {k}a 1", "+QUEUED\r\n", "SET {j}b 2", "+QUEUED\r\n",
			"NOPE", "-ERR unknown command 'NOPE', with args beginning with: \r\n",
			"EXEC", "-"+errCrossSlot+"\r\n")},
		{"commands after a refusal are not kept", steps(
			"MULTI", "+OK\r\n", "SET {k}a 1", "+QUEUED\r\n",
			"NOPE", "-ERR unknown command 'NOPE', with args beginning with: \r\n",
			"SET {j}b 2", "+QUEUED\r\n", "EXEC", abort)},
		{"runtime errors are in the array", steps(
			"SET {k}s str", "+OK\r\n",
			"MULTI", "+OK\r\n", "INCR {k}s", "+QUEUED\r\n", "SET {k}c 1", "+QUEUED\r\n", "LPUSH {k}s x", "+QUEUED\r\n",
			"EXEC", "*3\r\n-"+errNotInteger+"\r\n+OK\r\n"+wrongTypeReply,
			"GET {k}c", "$1\r\n1\r\n")},
		{"not allowed inside MULTI", steps(
			"MULTI", "+OK\r\n",
			"REPLSYNC p0-i1 run 1 0", notInTx,
			"SLOTIMPORT 9 7629 x", notInTx,
			"SUBSCRIBE ch", notInTx,
			"EXEC", abort)},
		{"blocking commands answer as timed out", steps(
			"MULTI", "+OK\r\n",
			"BLPOP {k}l 0", "+QUEUED\r\n",
			"BRPOP {k}l 0", "+QUEUED\r\n",
			"BLMOVE {k}l {k}m LEFT LEFT 0", "+QUEUED\r\n",
			"BRPOPLPUSH {k}l {k}m 0", "+QUEUED\r\n",
			"BLMPOP 0 1 {k}l LEFT", "+QUEUED\r\n",
			"WAIT 0 0", "+QUEUED\r\n",
			"EXEC", "*6\r\n*-1\r\n*-1\r\n$-1\r\n$-1\r\n*-1\r\n:0\r\n")},
		{"blocking commands with data", steps(
			"MULTI", "+OK\r\n", "RPUSH {k}l a b", "+QUEUED\r\n", "BLPOP {k}l 0", "+QUEUED\r\n",
			"BLMOVE {k}l {k}m LEFT LEFT 0", "+QUEUED\r\n",
			"EXEC", "*3\r\n:2\r\n*2\r\n$4\r\n{k}l\r\n$1\r\na\r\n$1\r\nb\r\n")},
		{"RESP3", steps(
			"HELLO 3", "",
			"MULTI", "+OK\r\n", "BLPOP {k}l 0", "+QUEUED\r\n", "EXEC", "*1\r\n_\r\n")},
		{"WATCH routing", steps(
			"WATCH {k}a {j}b", "-"+errCrossSlot+"\r\n",
			"WATCH foo", "-MOVED 12182 127.0.0.1:7001\r\n",
			"WATCH {k}a {k}b", "+OK\r\n",
			"MULTI", "+OK\r\n", "WATCH {k}a {j}b", "-"+errCrossSlot+"\r\n", "EXEC", abort)},
		{"UNWATCH is queued", steps(
			"MULTI", "+OK\r\n", "UNWATCH", "+QUEUED\r\n", "EXEC", "*1\r\n+OK\r\n")},
		{"the next transaction on a connection reuses the last one's buffers", steps(
			"MULTI", "+OK\r\n", "SET {k}long "+strings.Repeat("x", 40), "+QUEUED\r\n", "SET {k}n 7", "+QUEUED\r\n",
			"EXEC", "*2\r\n+OK\r\n+OK\r\n",
			"MULTI", "+OK\r\n", "SET {k}a 1", "+QUEUED\r\n", "NOPE", "-ERR unknown command 'NOPE', with args beginning with: \r\n",
			"EXEC", abort,
			"MULTI", "+OK\r\n", "INCR {k}n", "+QUEUED\r\n", "DISCARD", "+OK\r\n",
			"MULTI", "+OK\r\n", "SET {k}a 1", "+QUEUED\r\n", "SET {j}b 2", "+QUEUED\r\n", "EXEC", "-"+errCrossSlot+"\r\n",
			"MULTI", "+OK\r\n", "INCR {k}n", "+QUEUED\r\n", "GET {k}long", "+QUEUED\r\n", "MGET {k}a {k}n", "+QUEUED\r\n",
			"EXEC", "*3\r\n:8\r\n$40\r\n"+strings.Repeat("x", 40)+"\r\n*2\r\n$-1\r\n$1\r\n8\r\n")},
		{"a keyless transaction", steps(
			"MULTI", "+OK\r\n", "PING", "+QUEUED\r\n", "ECHO hi", "+QUEUED\r\n", "FLUSHALL", "+QUEUED\r\n",
			"EXEC", "*3\r\n+PONG\r\n$2\r\nhi\r\n+OK\r\n")},
	}
	_, dial := startServer(t, Config{Replication: Standalone{}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial()
			c.t = t
			c.expect(encodeCmd("FLUSHALL"), "+OK\r\n")
			for _, st := range tt.steps {
				if st.want == "" { // HELLO: a long map, not compared
					c.send(strings.Fields(st.cmd)...)
					replyOf(t, c)
					continue
				}
				c.expect(encodeCmd(strings.Fields(st.cmd)...), st.want)
			}
		})
	}
}

// TestTransactionAllocatesNothing guards the transaction's hot path: once a connection
// has run a transaction, the next one (MULTI, SET, INCR, GET, EXEC through dispatch)
// allocates nothing: its commands' arguments are copied into the last one's buffers, and
// with a journal (a replicating store) the unit holding its operations is the last one's.
func TestTransactionAllocatesNothing(t *testing.T) {
	for _, journal := range []store.Journal{nil, &countingJournal{}} {
		t.Run(fmt.Sprintf("journal=%v", journal != nil), func(t *testing.T) {
			if journal != nil && raceEnabled {
				t.Skip("the journal's buffers are pooled, and the race detector drops pooled objects at random")
			}
			run, st := transactionHarness(t, journal)
			runs := 0
			counted := func() { run(); runs++ }
			counted()
			if n := testing.AllocsPerRun(200, counted); n != 0 {
				t.Errorf("%.1f allocations per transaction", n)
			}
			if got, ok, err := st.Get(nil, []byte("{k}c")); !ok || err != nil || string(got) != strconv.Itoa(runs) {
				t.Errorf("the counter is %q (%v, %v) after %d transactions", got, ok, err, runs)
			}
			if j, ok := journal.(*countingJournal); ok && j.n.Load() != int64(runs) {
				t.Errorf("%d operations journaled for %d transactions, want one unit each", j.n.Load(), runs)
			}
		})
	}
}

// BenchmarkDispatchTransaction is one MULTI; SET; INCR; GET; EXEC through dispatch, as
// ci/bench-tx.sh sends it, on a standalone store and on one that journals (a primary's).
func BenchmarkDispatchTransaction(b *testing.B) {
	for _, journal := range []store.Journal{nil, &countingJournal{}} {
		b.Run(fmt.Sprintf("journal=%v", journal != nil), func(b *testing.B) {
			run, _ := transactionHarness(b, journal)
			b.ReportAllocs()
			for b.Loop() {
				run()
			}
		})
	}
}

// transactionHarness returns a function that sends MULTI; SET {k}v <100 bytes>; INCR {k}c;
// GET {k}v; EXEC through dispatch on one connection of a standalone server, and its store,
// which journals to journal when not nil.
func transactionHarness(tb testing.TB, journal store.Journal) (func(), *store.Store) {
	st := store.New(1 << 20)
	if journal != nil {
		st.SetJournal(journal)
	}
	s, err := New(Config{Replication: Standalone{}}, st, prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	s.SetView(testView(tb, "p0-i0"))
	p1, p2 := net.Pipe()
	tb.Cleanup(func() { p1.Close(); p2.Close() })
	c := s.newConn(p1)
	c.wr = resp.NewWriter(io.Discard)
	var tx [][][]byte
	for _, args := range []string{"MULTI", "SET {k}v " + strings.Repeat("v", 100), "INCR {k}c", "GET {k}v", "EXEC"} {
		var argv [][]byte
		for _, a := range strings.Fields(args) {
			argv = append(argv, []byte(a))
		}
		tx = append(tx, argv)
	}
	return func() {
		for _, argv := range tx {
			s.dispatch(c, argv)
		}
		c.wr.Flush()
	}, st
}

// replyOf reads one whole reply of c and returns it raw.
func replyOf(t *testing.T, c *testClient) string {
	t.Helper()
	if err := c.nc.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := readReply(c.br, &b); err != nil {
		t.Fatalf("reading a reply: %v (so far %q)", err, b.String())
	}
	return b.String()
}

// TestQuitInsideMulti: QUIT is not queued: it answers and closes the connection.
func TestQuitInsideMulti(t *testing.T) {
	_, dial := startServer(t, Config{Replication: Standalone{}})
	c := dial()
	c.expect(encodeCmd("MULTI")+encodeCmd("QUIT"), "+OK\r\n+OK\r\n")
	if n, err := c.br.ReadByte(); err != io.EOF {
		t.Fatalf("after QUIT in MULTI the connection stays open: read %q, %v", n, err)
	}
}

// TestTransactionOverMaxmemory: over maxmemory, every command inside MULTI is refused
// (a read too), which aborts the transaction; DISCARD still works; EXEC of a transaction
// holding a denyoom command is refused with the reason.
func TestTransactionOverMaxmemory(t *testing.T) {
	_, dial := startServer(t, Config{MaxMemory: 16 << 10, Replication: Standalone{}})
	c, other := dial(), dial()
	oom := "-" + errOOM + "\r\n"
	c.expect(encodeCmd("MULTI"), "+OK\r\n")
	c.expect(encodeCmd("SET", "{k}b", "1"), "+QUEUED\r\n")
	other.expect(encodeCmd("SET", "{k}a", strings.Repeat("x", 9000)), "+OK\r\n")
	other.expect(encodeCmd("CONFIG", "SET", "maxmemory", "4096"), "+OK\r\n") // now over it
	c.expect(encodeCmd("EXEC"), "-EXECABORT Transaction discarded because of: "+errOOM+"\r\n")
	c.expect(encodeCmd("MULTI"), "+OK\r\n")
	c.expect(encodeCmd("GET", "{k}a"), oom)
	c.expect(encodeCmd("DISCARD"), "+OK\r\n")
	c.expect(encodeCmd("MULTI"), "+OK\r\n")
	c.expect(encodeCmd("GET", "{k}a"), oom)
	c.expect(encodeCmd("EXEC"), "-"+errExecAbort+"\r\n")
}

// TestTransactionNeedsAuth: EXEC before AUTH is refused as Redis refuses it, with
// EXECABORT naming the reason.
func TestTransactionNeedsAuth(t *testing.T) {
	_, dial := startServer(t, Config{RequirePass: "pw", Replication: Standalone{}})
	c := dial()
	c.expect(encodeCmd("EXEC"), "-EXECABORT Transaction discarded because of: "+errNoAuth+"\r\n")
	c.expect(encodeCmd("MULTI"), "-"+errNoAuth+"\r\n")
	c.expect(encodeCmd("AUTH", "pw")+encodeCmd("MULTI")+encodeCmd("PING")+encodeCmd("EXEC"), "+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n+PONG\r\n")
}

// TestWatch: EXEC answers a null array when a watched key was changed by anyone (a write,
// another client's transaction, FLUSHALL, expiry) and runs otherwise (no change, writes
// that change nothing, other keys); EXEC, DISCARD and UNWATCH forget the watches.
func TestWatch(t *testing.T) {
	_, dial := startServer(t, Config{Replication: Standalone{}})
	a, b := dial(), dial()
	ran, aborted := "*1\r\n+PONG\r\n", "*-1\r\n"
	exec := func(t *testing.T, want string) {
		t.Helper()
		a.t = t
		a.expect(encodeCmd("MULTI")+encodeCmd("PING")+encodeCmd("EXEC"), "+OK\r\n+QUEUED\r\n"+want)
	}
	for _, tc := range []struct {
		name   string
		before []string // b, before the WATCH
		after  []string // b, after it
		want   string
	}{
		{"untouched", []string{"SET {k}w 1"}, nil, ran},
		{"set", nil, []string{"SET {k}w 1"}, aborted},
		{"set same value", []string{"SET {k}w 1"}, []string{"SET {k}w 1"}, aborted},
		{"setnx on existing", []string{"SET {k}w 1"}, []string{"SETNX {k}w 2"}, ran},
		{"del of absent", nil, []string{"DEL {k}w"}, ran},
		{"other key", nil, []string{"SET {k}other 1"}, ran},
		{"other transaction", nil, []string{"MULTI", "INCR {k}w", "EXEC"}, aborted},
		{"flushall with the key", []string{"SET {k}w 1"}, []string{"FLUSHALL"}, aborted},
		{"flushall without it", []string{"SET {k}other 1"}, []string{"FLUSHALL"}, ran},
		{"eviction-free expire", []string{"SET {k}w 1"}, []string{"EXPIRE {k}w 1000"}, aborted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.t = t
			b.expect(encodeCmd("FLUSHALL"), "+OK\r\n")
			for _, cmd := range tc.before {
				b.send(strings.Fields(cmd)...)
				replyOf(t, b)
			}
			a.t = t
			a.expect(encodeCmd("WATCH", "{k}w"), "+OK\r\n")
			for _, cmd := range tc.after {
				b.send(strings.Fields(cmd)...)
				replyOf(t, b)
			}
			exec(t, tc.want)
			exec(t, ran) // EXEC forgot the watch
		})
	}
	t.Run("unwatch and discard forget", func(t *testing.T) {
		a.t, b.t = t, t
		a.expect(encodeCmd("WATCH", "{k}w"), "+OK\r\n")
		b.expect(encodeCmd("SET", "{k}w", "1"), "+OK\r\n")
		a.expect(encodeCmd("UNWATCH"), "+OK\r\n")
		exec(t, ran)
		a.expect(encodeCmd("WATCH", "{k}w"), "+OK\r\n")
		b.expect(encodeCmd("SET", "{k}w", "2"), "+OK\r\n")
		a.expect(encodeCmd("MULTI")+encodeCmd("DISCARD"), "+OK\r\n+OK\r\n")
		exec(t, ran)
	})
	t.Run("own write", func(t *testing.T) {
		a.t = t
		a.expect(encodeCmd("WATCH", "{k}w")+encodeCmd("SET", "{k}w", "3"), "+OK\r\n+OK\r\n")
		exec(t, aborted)
	})
	t.Run("touched while queueing keeps nothing more", func(t *testing.T) {
		a.t, b.t = t, t
		a.expect(encodeCmd("WATCH", "{k}w")+encodeCmd("MULTI")+encodeCmd("SET", "{k}x", "1"), "+OK\r\n+OK\r\n+QUEUED\r\n")
		b.expect(encodeCmd("SET", "{k}w", "4"), "+OK\r\n")
		// Not kept: it would make EXEC CROSSSLOT otherwise.
		a.expect(encodeCmd("SET", "{j}y", "1")+encodeCmd("EXEC"), "+QUEUED\r\n*-1\r\n")
	})
	t.Run("expiry after WATCH", func(t *testing.T) {
		a.t, b.t = t, t
		a.expect(encodeCmd("SET", "{k}e", "1", "PX", "100")+encodeCmd("WATCH", "{k}e"), "+OK\r\n+OK\r\n")
		testutil.Eventually(t, 5*time.Second, "{k}e expired", func() bool {
			b.expect(encodeCmd("EXISTS", "{k}e"), ":")
			line, _ := b.br.ReadString('\n')
			return line == "0\r\n"
		})
		exec(t, aborted)
		// Already expired when watched: its removal is no change.
		a.expect(encodeCmd("WATCH", "{k}e"), "+OK\r\n")
		exec(t, ran)
	})
}

// viewWithout is the two-partition test view with slot moved from partition 0 to 1.
func viewWithout(t *testing.T, slot int) *cluster.View {
	t.Helper()
	m, err := cluster.NewPartitionMap(2, false)
	if err != nil {
		t.Fatal(err)
	}
	m.Partitions[0].Slots = [][2]int{{0, slot - 1}, {slot + 1, 8191}}
	m.Partitions[1].Slots = [][2]int{{slot, slot}, {8192, 16383}}
	return viewOf(t, m, "p0-i0")
}

// TestWatchedSlotLeaves: a watched key whose slot leaves this instance counts as changed,
// even when it did not exist (it may come back changed).
func TestWatchedSlotLeaves(t *testing.T) {
	s, dial := startServer(t, Config{Replication: Standalone{}})
	a := dial()
	a.expect(encodeCmd("WATCH", "{k}absent"), "+OK\r\n")
	s.SetView(viewWithout(t, slotK))
	a.expect(encodeCmd("MULTI")+encodeCmd("PING")+encodeCmd("EXEC"), "+OK\r\n+QUEUED\r\n*-1\r\n")
	a.expect(encodeCmd("MULTI")+encodeCmd("GET", "{k}a")+encodeCmd("DISCARD"),
		fmt.Sprintf("+OK\r\n-MOVED %d 127.0.0.1:7001\r\n+OK\r\n", slotK))
	// A transaction queued before its slot left is sent on at EXEC.
	s.SetView(testView(t, "p0-i0"))
	a.expect(encodeCmd("MULTI")+encodeCmd("GET", "{k}a"), "+OK\r\n+QUEUED\r\n")
	s.SetView(viewWithout(t, slotK))
	a.expect(encodeCmd("EXEC"), fmt.Sprintf("-MOVED %d 127.0.0.1:7001\r\n", slotK))
	a.expect(encodeCmd("EXEC"), "-ERR EXEC without MULTI\r\n")
}

// epochRepl is a replication whose epoch a test changes (a failover) and which records
// what EXEC asks of it.
type epochRepl struct {
	Standalone
	epoch    atomic.Int64
	mu       sync.Mutex
	barriers []string
	waited   []uint64
}

func (r *epochRepl) Status() cluster.InstanceStatus {
	return cluster.InstanceStatus{Role: "primary", Serving: true, Epoch: r.epoch.Load()}
}

// Barrier is 7 after a write, 5 after a read: a write waits for all a read waits for.
func (r *epochRepl) Barrier(write bool, slot int) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.barriers = append(r.barriers, fmt.Sprintf("%v/%d", write, slot))
	if write {
		return 7
	}
	return 5
}

func (r *epochRepl) Wait(seq uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waited = append(r.waited, seq)
	return true
}

// TestWatchAcrossFailover: when the partition's epoch changed since WATCH (this instance
// was not primary meanwhile, its keys may have changed by replication), EXEC aborts.
func TestWatchAcrossFailover(t *testing.T) {
	repl := &epochRepl{}
	repl.epoch.Store(3)
	_, dial := startServer(t, Config{Replication: repl})
	a := dial()
	a.expect(encodeCmd("WATCH", "{k}a"), "+OK\r\n")
	repl.epoch.Store(5)
	a.expect(encodeCmd("MULTI")+encodeCmd("PING")+encodeCmd("EXEC"), "+OK\r\n+QUEUED\r\n*-1\r\n")
	a.expect(encodeCmd("WATCH", "{k}a")+encodeCmd("MULTI")+encodeCmd("PING")+encodeCmd("EXEC"), "+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n+PONG\r\n")
}

// countingJournal counts the operations a store journals.
type countingJournal struct{ n atomic.Int64 }

func (j *countingJournal) Record(int, []byte) { j.n.Add(1) }

// TestExecIsOneReplicationUnit: a transaction's changes are journaled as one operation,
// and EXEC's reply waits for the replication of everything journaled (a write's barrier
// on the transaction's slot).
func TestExecIsOneReplicationUnit(t *testing.T) {
	repl := &epochRepl{}
	st := store.New(1 << 20)
	journal := &countingJournal{}
	st.SetJournal(journal)
	dial := serveStore(t, st, Config{Replication: repl})
	a := dial()
	a.expect(encodeCmd("MULTI")+encodeCmd("INCR", "{k}a")+encodeCmd("INCR", "{k}b")+encodeCmd("SET", "{k}c", "x")+encodeCmd("EXEC"),
		"+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n:1\r\n:1\r\n+OK\r\n")
	if n := journal.n.Load(); n != 1 {
		t.Fatalf("the transaction journaled %d operations, want one unit", n)
	}
	repl.mu.Lock()
	defer repl.mu.Unlock()
	want := fmt.Sprintf("true/%d", slotK)
	if len(repl.barriers) == 0 || repl.barriers[0] != want || fmt.Sprint(repl.waited) != "[7]" {
		t.Fatalf("EXEC asked barriers %v and waited for %v; want barrier %s first, then one wait for the write's 7", repl.barriers, repl.waited, want)
	}
}

// serveStore serves st like startServer does its own store.
func serveStore(t *testing.T, st *store.Store, cfg Config) func() *testClient {
	t.Helper()
	cfg.ProtoMaxBulkLen = 1 << 20
	s, err := New(cfg, st, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	s.SetView(testView(t, "p0-i0"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return func() *testClient {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		return &testClient{t: t, nc: nc, br: bufio.NewReader(nc)}
	}
}

// TestExecIsAtomic: while clients run MULTI INCR {k}a INCR {k}b EXEC, no other client's
// read of the slot lands between the two increments.
func TestExecIsAtomic(t *testing.T) {
	_, dial := startServer(t, Config{Replication: Standalone{}})
	const writers, rounds, pad = 4, 200, 20
	var wg sync.WaitGroup
	for range writers {
		c := dial()
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Commands between the two increments widen the window a read could land in.
			tx := encodeCmd("MULTI") + encodeCmd("INCR", "{k}a") + strings.Repeat(encodeCmd("SET", "{k}pad", "x"), pad) +
				encodeCmd("INCR", "{k}b") + encodeCmd("EXEC")
			for range rounds {
				if _, err := io.WriteString(c.nc, tx); err != nil {
					t.Error(err)
					return
				}
				for range 4 + pad {
					var b strings.Builder
					if err := readReply(c.br, &b); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	r := dial()
	reads := 0
	for finished := false; !finished; reads++ {
		select {
		case <-done:
			finished = true
		default:
		}
		r.send("MGET", "{k}a", "{k}b")
		reply := replyOf(t, r)
		if reply == "*2\r\n$-1\r\n$-1\r\n" {
			continue // before the first EXEC: neither key yet, as consistent as after one
		}
		lines := strings.Split(reply, "\r\n")
		if len(lines) < 5 || lines[2] != lines[4] {
			t.Errorf("read %d saw half a transaction: %q", reads, reply)
			<-done
			return
		}
	}
	r.expect(encodeCmd("MGET", "{k}a", "{k}b"), bulks(fmt.Sprint(writers*rounds), fmt.Sprint(writers*rounds)))
}

// TestBlockedClientsServedAfterExec: a client blocked on a key a transaction pushes to
// and pops from again sees nothing (as in Redis, blocked clients are served after EXEC,
// not between its commands); one the transaction leaves data for is served after it.
func TestBlockedClientsServedAfterExec(t *testing.T) {
	s, dial := startServer(t, Config{Replication: Standalone{}})
	w, a := dial(), dial()
	w.send("BLPOP", "{k}l", "0")
	waitBlocked(t, s, 1)
	a.expect(encodeCmd("MULTI")+encodeCmd("LPUSH", "{k}l", "x")+encodeCmd("LPOP", "{k}l")+encodeCmd("EXEC"),
		"+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:1\r\n$1\r\nx\r\n")
	waitBlocked(t, s, 1)
	a.expect(encodeCmd("MULTI")+encodeCmd("LPUSH", "{k}l", "y")+encodeCmd("EXEC"), "+OK\r\n+QUEUED\r\n*1\r\n:1\r\n")
	w.read(bulks("{k}l", "y"))
	a.expect(encodeCmd("LLEN", "{k}l"), ":0\r\n")
}

// TestAskingHoldsThroughMulti: ASKING before MULTI lets EXEC run on a slot moving here,
// as Redis keeps the flag while the client is in MULTI.
func TestAskingHoldsThroughMulti(t *testing.T) {
	s, dial := startServer(t, Config{Partition: 2, Replication: Standalone{}})
	s.SetView(movingView(t, "p2-i0", cluster.MoveImporting))
	c := dial()
	moved := fmt.Sprintf("-MOVED %d 127.0.0.1:7000\r\n", slotK)
	c.expect(encodeCmd("MULTI")+encodeCmd("SET", "{k}a", "1")+encodeCmd("EXEC"), "+OK\r\n"+moved+"-"+errExecAbort+"\r\n")
	c.expect(encodeCmd("ASKING")+encodeCmd("MULTI")+encodeCmd("SET", "{k}a", "1")+encodeCmd("INCR", "{k}a")+encodeCmd("EXEC"),
		"+OK\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n:2\r\n")
	c.expect(encodeCmd("GET", "{k}a"), moved) // the flag ended with EXEC
}

// TestTransactionStats: INFO counts the commands a transaction ran when EXEC runs them,
// not when they are queued, and their errors; EXECABORT is a failed EXEC, CROSSSLOT a
// rejected one.
func TestTransactionStats(t *testing.T) {
	s, dial := startServer(t, Config{Replication: Standalone{}})
	c := dial()
	c.expect(encodeCmd("MULTI")+encodeCmd("SET", "{k}a", "1")+encodeCmd("INCR", "{k}a")+encodeCmd("NOPE")+encodeCmd("EXEC"),
		"+OK\r\n+QUEUED\r\n+QUEUED\r\n-ERR unknown command 'NOPE', with args beginning with: \r\n-"+errExecAbort+"\r\n")
	c.expect(encodeCmd("MULTI")+encodeCmd("SET", "{k}a", "x")+encodeCmd("INCR", "{k}a")+encodeCmd("EXEC"),
		"+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n-"+errNotInteger+"\r\n")
	c.expect(encodeCmd("MULTI")+encodeCmd("SET", "{k}a", "1")+encodeCmd("SET", "{j}b", "2")+encodeCmd("EXEC"),
		"+OK\r\n+QUEUED\r\n+QUEUED\r\n-"+errCrossSlot+"\r\n")
	c.expect(encodeCmd("WATCH", "{k}a")+encodeCmd("UNWATCH"), "+OK\r\n+OK\r\n")
	info := s.Info("commandstats", "errorstats")
	for _, want := range []string{
		"cmdstat_multi:calls=3,", "cmdstat_set:calls=1,", "cmdstat_incr:calls=1,",
		"cmdstat_watch:calls=1,", "cmdstat_unwatch:calls=1,",
		"rejected_calls=0,failed_calls=1\r\n", // incr
		"errorstat_ERR:count=2\r\n", "errorstat_EXECABORT:count=1\r\n", "errorstat_CROSSSLOT:count=1\r\n",
	} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO lacks %q:\n%s", want, info)
		}
	}
	if !strings.Contains(info, "cmdstat_exec:calls=2,") || !strings.Contains(info, "rejected_calls=1,failed_calls=1\r\n") {
		t.Errorf("INFO commandstats of exec, want 2 calls, 1 rejected, 1 failed:\n%s", info)
	}
}

// TestGoRedisTransactions: go-redis's TxPipelined runs its commands in one MULTI/EXEC,
// and its Watch-based optimistic locking from several goroutines ends with the exact count.
func TestGoRedisTransactions(t *testing.T) {
	_, dial := startServer(t, Config{Replication: Standalone{}})
	addr := dial().nc.RemoteAddr().String()
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 8})
	t.Cleanup(func() { rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cmds, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "{k}x", "1", 0)
		p.IncrBy(ctx, "{k}x", 41)
		p.Get(ctx, "{k}x")
		return nil
	})
	if err != nil || len(cmds) != 3 || cmds[2].(*redis.StringCmd).Val() != "42" {
		t.Fatalf("TxPipelined: %v %v", cmds, err)
	}
	if _, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "{k}x", "a", 0)
		p.Incr(ctx, "{k}x")
		return nil
	}); err == nil || !strings.Contains(err.Error(), "not an integer") {
		t.Fatalf("TxPipelined with a runtime error: %v", err)
	}

	const workers, each = 8, 40
	var conflicts atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				for {
					err := rdb.Watch(ctx, func(tx *redis.Tx) error {
						n, err := tx.Get(ctx, "{k}counter").Int()
						if err != nil && !errors.Is(err, redis.Nil) {
							return err
						}
						_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
							p.Set(ctx, "{k}counter", n+1, 0)
							return nil
						})
						return err
					}, "{k}counter")
					if errors.Is(err, redis.TxFailedErr) {
						conflicts.Add(1)
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	n, err := rdb.Get(ctx, "{k}counter").Int()
	if err != nil || n != workers*each {
		t.Fatalf("counter after %d optimistic increments: %d %v", workers*each, n, err)
	}
	t.Logf("%d increments, %d retried after a conflict", n, conflicts.Load())
}
