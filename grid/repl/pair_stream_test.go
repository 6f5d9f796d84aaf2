package repl_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Streams reach the backup as the small operations their commands journal: entries with
// their final IDs, deletions, trims, group positions, deliveries and acknowledgements.
func TestAcknowledgedStreamWritesAreOnTheBackup(t *testing.T) {
	_, in := startPair(t)
	rdb := redis.NewClient(&redis.Options{Addr: in[0].addr, MaxRetries: -1})
	defer rdb.Close()
	ctx := context.Background()
	for _, cmd := range [][]any{
		{"XADD", "s", "1-1", "f", "v"}, {"XADD", "s", "*", "f", "v", "g", "w"}, {"XADD", "s", "*", "other", "x"},
		{"XGROUP", "CREATE", "s", "g", "0"}, {"XGROUP", "CREATE", "s", "h", "$", "ENTRIESREAD", "3"},
		{"XREADGROUP", "GROUP", "g", "alice", "COUNT", "2", "STREAMS", "s", ">"},
		{"XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", ">"},
		{"XACK", "s", "g", "1-1"}, {"XADD", "s", "MAXLEN", "2", "*", "f", "last"},
		{"XCLAIM", "s", "g", "bob", "0", "1-1", "FORCE"}, {"XDEL", "s", "1-1"},
		{"XAUTOCLAIM", "s", "g", "carol", "0", "0"}, {"XGROUP", "CREATECONSUMER", "s", "h", "dave"},
		{"XGROUP", "DELCONSUMER", "s", "g", "alice"}, {"XSETID", "s", "99999999999999-0", "ENTRIESADDED", "10"},
		{"XGROUP", "CREATE", "{s}new", "g", "$", "MKSTREAM"}, {"COPY", "s", "{s}copy"}, {"RENAME", "{s}new", "{s}renamed"},
		{"XGROUP", "SETID", "s", "h", "0"}, {"XTRIM", "s", "MINID", "0"},
	} {
		if err := rdb.Do(ctx, cmd...).Err(); err != nil && err != redis.Nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	for _, k := range []string{"s", "{s}copy", "{s}renamed"} {
		want, ok, _ := in[0].store.XInfoStream([]byte(k), true, 0)
		got, gok, _ := in[1].store.XInfoStream([]byte(k), true, 0)
		if !ok || !gok || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s on the backup (%v):\n%+v\nwant (%v)\n%+v", k, gok, got, ok, want)
		}
	}
	if in[1].store.Exists([]byte("{s}new")) {
		t.Fatal("RENAME's source is still on the backup")
	}
}
