package itest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// instancePort is the RESP port of instance name ("p0-i1") of g.
func (g *haLocal) instancePort(t *testing.T, name string) int {
	t.Helper()
	var p, i int
	if _, err := fmt.Sscanf(name, "p%d-i%d", &p, &i); err != nil {
		t.Fatalf("instance name %q: %v", name, err)
	}
	return g.base + 10 + 2*p + i
}

// keyspaceSubscriber enables every keyspace notification on the instance at port and
// subscribes to them there.
func keyspaceSubscriber(ctx context.Context, t *testing.T, port int) *redis.PubSub {
	t.Helper()
	if err := instanceClient(t, port).ConfigSet(ctx, "notify-keyspace-events", "KEA").Err(); err != nil {
		t.Fatalf("CONFIG SET notify-keyspace-events on port %d: %v", port, err)
	}
	ps := instanceClient(t, port).PSubscribe(ctx, "__key*@0__:*")
	t.Cleanup(func() { ps.Close() })
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatalf("PSUBSCRIBE on port %d: %v", port, err)
	}
	return ps
}

// nextEvent is ps's next message as "channel payload".
func nextEvent(ctx context.Context, t *testing.T, ps *redis.PubSub, what string) string {
	t.Helper()
	m := receive(ctx, t, ps, what)
	return m.Channel + " " + m.Payload
}

// TestKeyspaceNotificationsFromThePrimaryOnly checks on an HA local grid that the primary
// sends the events of its writes and of its expiry, while its backup, which applies the
// same changes from the primary's journal, sends none; after a failover the new primary
// sends them.
func TestKeyspaceNotificationsFromThePrimaryOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an HA local grid and kills its primary")
	}
	g := startHALocal(t, 1, 1)
	pt := g.waitHealthy(t, 0, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a failover included
	defer cancel()
	primary, backup := g.instancePort(t, pt.Primary), g.instancePort(t, pt.Backup)
	onPrimary, onBackup := keyspaceSubscriber(ctx, t, primary), keyspaceSubscriber(ctx, t, backup)
	rdb := instanceClient(t, primary)
	for _, args := range [][]any{{"SET", "{n}a", "1", "PX", "200"}, {"LPUSH", "{n}b", "x"}, {"LPOP", "{n}b"}} {
		if err := rdb.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("%v on the primary: %v", args, err)
		}
	}
	for _, want := range []string{
		"__keyspace@0__:{n}a set", "__keyevent@0__:set {n}a", "__keyspace@0__:{n}a expire", "__keyevent@0__:expire {n}a",
		"__keyspace@0__:{n}b lpush", "__keyevent@0__:lpush {n}b", "__keyspace@0__:{n}b lpop", "__keyevent@0__:lpop {n}b",
		"__keyspace@0__:{n}b del", "__keyevent@0__:del {n}b",
		"__keyspace@0__:{n}a expired", "__keyevent@0__:expired {n}a", // the primary's active expiry
	} {
		if got := nextEvent(ctx, t, onPrimary, "event on the primary"); got != want {
			t.Fatalf("event on the primary: %q, want %q", got, want)
		}
	}
	// A write acknowledged after the expiry's deletion reached the backup (the stream is
	// in order, replies wait for the backup), then a PUBLISH, which every instance gets:
	// it must be the backup's first message.
	if err := rdb.Set(ctx, "{n}c", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Publish(ctx, "__keyspace@0__:end", "end").Err(); err != nil {
		t.Fatal(err)
	}
	if got := nextEvent(ctx, t, onBackup, "first message on the backup"); got != "__keyspace@0__:end end" {
		t.Fatalf("the backup sent %q before the PUBLISH: a backup must send no keyspace events", got)
	}

	g.killPrimary(t, 0)
	after := g.waitHealthy(t, 0, 60*time.Second)
	if after.Primary != pt.Backup {
		t.Fatalf("after the kill the primary is %s, want the backup %s", after.Primary, pt.Backup)
	}
	if err := instanceClient(t, backup).Set(ctx, "{n}d", "1", 0).Err(); err != nil {
		t.Fatalf("SET on the new primary: %v", err)
	}
	for _, want := range []string{"__keyspace@0__:{n}d set", "__keyevent@0__:set {n}d"} {
		if got := nextEvent(ctx, t, onBackup, "event on the new primary"); got != want {
			t.Fatalf("event on the new primary: %q, want %q", got, want)
		}
	}
}
