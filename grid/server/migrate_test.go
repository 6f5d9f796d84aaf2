package server

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/slots"
	"github.com/insightgrid/insight/grid/store"
)

// slotK is the slot of the hash tag {k}, which the tests below move from partition 0 to 2.
var slotK = slots.OfString("{k}")

// movingView is testView with a third, empty partition (p2-i0 at 127.0.0.1:7002) and
// slot {k} moving from partition 0 to it in state.
func movingView(t *testing.T, self, state string) *cluster.View {
	t.Helper()
	m, err := cluster.NewPartitionMap(2, false)
	if err != nil {
		t.Fatal(err)
	}
	m.Version = 9
	m.Partitions = append(m.Partitions, cluster.PartitionSlots{ID: 2, Slots: [][2]int{}})
	m.Moves = []cluster.Move{{Slots: [][2]int{{slotK, slotK}}, From: 0, To: 2, State: state}}
	return viewOf(t, m, self)
}

func TestMigratingSource(t *testing.T) {
	s, dial := startServer(t, Config{Replication: Standalone{}})
	c := dial()
	c.expect(encodeCmd("SET", "{k}here", "1"), "+OK\r\n") // before the move

	// Keys still here are served here; keys gone (or new) are asked of the target; a mix
	// is retried until the rest has moved.
	s.SetView(movingView(t, "p0-i0", cluster.MoveMigrating))
	ask := fmt.Sprintf("-ASK %d 127.0.0.1:7002\r\n", slotK)
	c.expect(encodeCmd("GET", "{k}here"), "$1\r\n1\r\n")
	c.expect(encodeCmd("GET", "{k}gone"), ask)
	c.expect(encodeCmd("SET", "{k}new", "x"), ask)
	c.expect(encodeCmd("MGET", "{k}here", "{k}gone"), "-"+errTryAgainMoving+"\r\n")
	// Keys found from a key count are routed the same way.
	c.expect(encodeCmd("SINTERCARD", "2", "{k}here", "{k}gone"), "-"+errTryAgainMoving+"\r\n")
	c.expect(encodeCmd("SINTERCARD", "1", "{k}gone"), ask)
	c.expect(encodeCmd("DEL", "{k}here"), ":1\r\n")
	c.expect(encodeCmd("GET", "{k}here"), ask)
	// Other slots are untouched.
	c.expect(encodeCmd("SET", "{z}x", "1"), "+OK\r\n")
	if got := s.store.CountInSlot(slotK); got != 0 {
		t.Fatalf("the source created keys in a migrating slot: %d keys", got)
	}

	// While the mover holds the slot, commands on it wait for it.
	c.expect(encodeCmd("SET", "{k}held", "1"), ask) // not here: asked elsewhere at once
	if err := s.store.Restore(slotK, dumpOne(t, "{k}held", "v")); err != nil {
		t.Fatal(err)
	}
	unlock := s.LockSlot(slotK)
	if _, err := io.WriteString(c.nc, encodeCmd("GET", "{k}held")); err != nil {
		t.Fatal(err)
	}
	reply := make(chan string, 1)
	go func() {
		b := make([]byte, len("$1\r\nv\r\n"))
		_, _ = io.ReadFull(c.br, b) // read errors show as a wrong reply below
		reply <- string(b)
	}()
	select {
	case got := <-reply:
		t.Fatalf("a command on a locked slot ran before the slot was unlocked: %q", got)
	case <-time.After(100 * time.Millisecond):
	}
	unlock()
	if got := <-reply; got != "$1\r\nv\r\n" {
		t.Fatalf("GET after the unlock: %q", got)
	}

	// In state importing the source still owns the slot as before.
	s.SetView(movingView(t, "p0-i0", cluster.MoveImporting))
	c.expect(encodeCmd("SET", "{k}new", "x"), "+OK\r\n")
}

// dumpOne is the whole-key operation that recreates key=val.
func dumpOne(t *testing.T, key, val string) []byte {
	t.Helper()
	st := store.New(1 << 20)
	if _, err := st.Set(nil, []byte(key), []byte(val), store.SetOptions{}); err != nil {
		t.Fatal(err)
	}
	_, ops := st.DumpKeys(slots.OfString(key), 10, 1<<20)
	if len(ops) != 1 {
		t.Fatalf("dump of %s: %d operations", key, len(ops))
	}
	return ops[0]
}

func TestImportingTarget(t *testing.T) {
	s, dial := startServer(t, Config{Partition: 2, Replication: Standalone{}})
	c := dial()
	moved := fmt.Sprintf("-MOVED %d 127.0.0.1:7000\r\n", slotK)
	for _, state := range []string{cluster.MoveImporting, cluster.MoveMigrating} {
		s.SetView(movingView(t, "p2-i0", state))
		c.expect(encodeCmd("GET", "{k}a"), moved)
		c.expect(encodeCmd("ASKING"), "+OK\r\n")
		c.expect(encodeCmd("GET", "{k}a"), "$-1\r\n")
		// ASKING holds for one command only, an unknown one included.
		c.expect(encodeCmd("GET", "{k}a"), moved)
		c.expect(encodeCmd("ASKING")+encodeCmd("NOPE"), "+OK\r\n-ERR unknown command 'NOPE', with args beginning with: \r\n")
		c.expect(encodeCmd("GET", "{k}a"), moved)
	}
	op := dumpOne(t, "{k}a", "moved")
	c.expect(encodeCmd("SLOTIMPORT", "9", fmt.Sprint(slotK), string(op)), "+OK\r\n")
	c.expect(encodeCmd("ASKING")+encodeCmd("GET", "{k}a"), "+OK\r\n$5\r\nmoved\r\n")
	// Importing a key again replaces it (the source retries whole batches).
	c.expect(encodeCmd("SLOTIMPORT", "9", fmt.Sprint(slotK), string(dumpOne(t, "{k}a", "again"))), "+OK\r\n")

	// Once the source is empty the target serves the slot to everyone.
	s.SetView(movingView(t, "p2-i0", cluster.MoveHandoff))
	c.expect(encodeCmd("GET", "{k}a"), "$5\r\nagain\r\n")

	// Refused: a slot that is not moving here, a key of another slot, garbage.
	other := slots.OfString("{z}")
	c.expect(encodeCmd("SLOTIMPORT", "9", fmt.Sprint(other), string(dumpOne(t, "{z}b", "x"))),
		fmt.Sprintf("-TRYAGAIN slot %d is not moving to partition 2 in partition map version 9 here (the source has version 9)\r\n", other))
	c.expect(encodeCmd("SLOTIMPORT", "9", fmt.Sprint(slotK), string(dumpOne(t, "{z}b", "x"))),
		fmt.Sprintf("-ERR slot %d: key \"{z}b\" hashes to slot %d, not %d\r\n", slotK, other, slotK))
	c.expect(encodeCmd("SLOTIMPORT", "9", fmt.Sprint(slotK), "\x09garbage"),
		fmt.Sprintf("-ERR slot %d: malformed journal operation: not a whole key\r\n", slotK))
	c.expect(encodeCmd("SLOTIMPORT", "x", fmt.Sprint(slotK), "op"), "-ERR invalid partition map version\r\n")
	c.expect(encodeCmd("SLOTIMPORT", "9", "16384", "op"), "-ERR Invalid slot\r\n")
}
