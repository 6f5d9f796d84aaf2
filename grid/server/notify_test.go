package server

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/insightgrid/insight/grid/internal/testutil"
	"github.com/insightgrid/insight/grid/slots"
	"github.com/insightgrid/insight/grid/store"
)

// TestNotifyClassesParse checks notify-keyspace-events' parsing (Redis's
// keyspaceEventsStringToFlags) and canonical form (keyspaceEventsFlagsToString).
func TestNotifyClassesParse(t *testing.T) {
	for _, tc := range []struct {
		in, canonical string
		ok            bool
	}{
		{"", "", true},
		{"KEA", "AKE", true},
		{"AKE", "AKE", true},
		{"A", "A", true},
		{"Kg", "gK", true},
		{"EK$", "$KE", true},
		{"g$lshzxetdKE", "AKE", true},        // every class of A given one by one
		{"g$lshzxetKE", "g$lshzxetKE", true}, // all but d: not A
		{"KEAm", "AKEm", true},
		{"KEAn", "AKE", true}, // n is not part of A: Redis prints A and drops it
		{"Kn", "nK", true},
		{"xxKK", "xK", true},
		{"Q", "", false},
		{"KEA ", "", false},
		{"kea", "", false},
		{"K\x00", "", false},
	} {
		f, ok := parseNotifyClasses(tc.in)
		if ok != tc.ok {
			t.Errorf("parseNotifyClasses(%q): ok %v, want %v", tc.in, ok, tc.ok)
			continue
		}
		if got := f.String(); ok && got != tc.canonical {
			t.Errorf("parseNotifyClasses(%q).String() = %q, want %q", tc.in, got, tc.canonical)
		}
	}
}

// TestNotifyKeyspaceEventsSetting checks the startup setting, CONFIG GET and SET, and
// that bad values are refused with Redis's reason and change nothing.
func TestNotifyKeyspaceEventsSetting(t *testing.T) {
	if _, err := New(Config{Replication: Standalone{}, NotifyKeyspaceEvents: "KEQ"}, store.New(1<<20), prometheus.NewRegistry()); err == nil ||
		!strings.Contains(err.Error(), `notify-keyspace-events "KEQ": Invalid event class character`) {
		t.Fatalf("New with notify-keyspace-events KEQ: %v, want the invalid class error", err)
	}
	_, dial := startServer(t, Config{Replication: Standalone{}, NotifyKeyspaceEvents: "Elg"})
	c := dial()
	want(t, "get at start", c.call("CONFIG", "GET", "notify-keyspace-events"), arr("notify-keyspace-events", "glE"))
	want(t, "set bad", c.call("CONFIG", "SET", "notify-keyspace-events", "KEX"),
		"-ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
	want(t, "unchanged", c.call("CONFIG", "GET", "notify-keyspace-events"), arr("notify-keyspace-events", "glE"))
	want(t, "set", c.call("CONFIG", "SET", "notify-keyspace-events", "KEA"), "OK")
	want(t, "get", c.call("CONFIG", "GET", "notify-keyspace-events"), arr("notify-keyspace-events", "AKE"))
	want(t, "off", c.call("CONFIG", "SET", "notify-keyspace-events", ""), "OK")
	want(t, "get off", c.call("CONFIG", "GET", "notify-keyspace-events"), arr("notify-keyspace-events", ""))
}

// TestKeyspaceEventsSubscribeRESP3 checks delivery to SUBSCRIBE (not only PSUBSCRIBE)
// subscribers, in RESP3 as pushes, and that classes without K or E send nothing.
func TestKeyspaceEventsSubscribeRESP3(t *testing.T) {
	_, dial := startServer(t, Config{Replication: Standalone{}})
	sub, c := dial(), dial()
	sub.hello3()
	want(t, "subscribe", sub.call("SUBSCRIBE", "__keyevent@0__:set", "__keyspace@0__:{k}a"),
		pushed{"subscribe", "__keyevent@0__:set", int64(1)})
	want(t, "second", sub.readAny(), pushed{"subscribe", "__keyspace@0__:{k}a", int64(2)})
	want(t, "classes only", c.call("CONFIG", "SET", "notify-keyspace-events", "A"), "OK")
	want(t, "set unseen", c.call("SET", "{k}a", "1"), "OK")
	want(t, "config", c.call("CONFIG", "SET", "notify-keyspace-events", "KE$"), "OK")
	want(t, "set", c.call("SET", "{k}a", "2"), "OK")
	want(t, "incr, not subscribed", c.call("INCR", "{k}b"), int64(1))
	want(t, "append", c.call("APPEND", "{k}a", "x"), int64(2))
	want(t, "keyspace", sub.readAny(), pushed{"message", "__keyspace@0__:{k}a", "set"})
	want(t, "keyevent", sub.readAny(), pushed{"message", "__keyevent@0__:set", "{k}a"})
	want(t, "append", sub.readAny(), pushed{"message", "__keyspace@0__:{k}a", "append"})
}

// TestKeyspaceEventsAreNodeLocal checks that, as in Redis Cluster, an instance's events
// reach its own subscribers only: they are not forwarded like a client's PUBLISH.
func TestKeyspaceEventsAreNodeLocal(t *testing.T) {
	nodes := startGrid(t, "", nil, "p0-i0", "p1-i0")
	key := ""
	for i := 0; key == ""; i++ {
		if k := fmt.Sprintf("key%d", i); nodes[0].s.View().Owner(slots.Of([]byte(k))).ID == 0 {
			key = k
		}
	}
	subs := []*testClient{nodes[0].dial(), nodes[1].dial()}
	for i, n := range nodes {
		want(t, "config", n.dial().call("CONFIG", "SET", "notify-keyspace-events", "KEA"), "OK")
		want(t, "psubscribe", subs[i].call("PSUBSCRIBE", "__key*@0__:*"), arr("psubscribe", "__key*@0__:*", int64(1)))
	}
	c := nodes[0].dial()
	want(t, "set", c.call("SET", key, "v"), "OK")
	want(t, "publish", c.call("PUBLISH", "__keyspace@0__:end", "end"), int64(1))
	want(t, "local keyspace", subs[0].readAny(), arr("pmessage", "__key*@0__:*", "__keyspace@0__:"+key, "set"))
	want(t, "local keyevent", subs[0].readAny(), arr("pmessage", "__key*@0__:*", "__keyevent@0__:set", key))
	want(t, "local end", subs[0].readAny(), arr("pmessage", "__key*@0__:*", "__keyspace@0__:end", "end"))
	// The PUBLISH is forwarded after the events would have been, on the same queue.
	want(t, "peer gets the PUBLISH only", subs[1].readAny(), arr("pmessage", "__key*@0__:*", "__keyspace@0__:end", "end"))
}

// TestKeyspaceEventsOffAllocateNothing checks the cost of the hooks while notifications
// are off: no allocation, no store call.
func TestKeyspaceEventsOffAllocateNothing(t *testing.T) {
	s, _ := startServer(t, Config{Replication: Standalone{}})
	c := &conn{s: s}
	key := []byte("{k}a")
	args := [][]byte{[]byte("set"), key, []byte("v")}
	cmd := s.cmds["set"]
	if n := testing.AllocsPerRun(100, func() {
		c.beforeKeyEvents(cmd, args)
		c.notify(notifyString, "set", key)
		c.notifyRemoved(notifyList, "lpop", key)
		c.notifyEach(notifyString, "set", args[1:], 2)
	}); n != 0 {
		t.Fatalf("the hooks allocate %v times per command while notifications are off", n)
	}
}

// TestClientOutputBufferLimitConfig checks CONFIG GET and SET of
// client-output-buffer-limit: Redis's form and reasons, the pubsub class applied, the
// other classes fixed at Redis's defaults.
func TestClientOutputBufferLimitConfig(t *testing.T) {
	s, dial := startServer(t, Config{Replication: Standalone{}})
	c := dial()
	const defaults = "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
	want(t, "default", c.call("CONFIG", "GET", "client-output-buffer-limit"), arr("client-output-buffer-limit", defaults))
	failed := "-ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - "
	for _, tc := range []struct{ v, reply string }{
		{"pubsub 1mb 512kb", failed + "Wrong number of arguments in buffer limit configuration."},
		{"master 0 0 0", failed + "Invalid client class specified in buffer limit configuration."},
		{"pubsub 1mb 512kb -1", failed + "Error in hard, soft or soft_seconds setting in buffer limit configuration."},
		{"pubsub 1zb 512kb 10", failed + "Error in hard, soft or soft_seconds setting in buffer limit configuration."},
		{"normal 1mb 0 0", failed + `the grid enforces the pubsub class only; "normal" stays "normal 0 0 0"`},
		{"pubsub 1mb 512kb 10 replica 1 1 1", failed + `the grid enforces the pubsub class only; "replica" stays "slave 268435456 67108864 60"`},
	} {
		want(t, "set "+tc.v, c.call("CONFIG", "SET", "client-output-buffer-limit", tc.v), tc.reply)
	}
	want(t, "unchanged", c.call("CONFIG", "GET", "client-output-buffer-limit"), arr("client-output-buffer-limit", defaults))
	want(t, "set", c.call("CONFIG", "SET", "client-output-buffer-limit", "normal 0 0 0 PUBSUB 1mb 512kb 10"), "OK")
	want(t, "get", c.call("CONFIG", "GET", "client-output-buffer-limit"),
		arr("client-output-buffer-limit", "normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 524288 10"))
	if l := s.pubsub.outputLimit(); l != (outputLimit{hard: 1 << 20, soft: 512 << 10, softFor: 10e9}) {
		t.Fatalf("pubsub limit applied: %+v", l)
	}
}

// TestKeyspaceSubscriberOverLimitDisconnected: a pattern subscriber that never reads,
// fed by keyspace notifications, is disconnected once its queue passes the pubsub hard
// limit CONFIG SET gave, and counted; the writes go on.
func TestKeyspaceSubscriberOverLimitDisconnected(t *testing.T) {
	_, dial := startServer(t, Config{Replication: Standalone{}, NotifyKeyspaceEvents: "KEA"})
	sub, c := dial(), dial()
	want(t, "limit", c.call("CONFIG", "SET", "client-output-buffer-limit", "pubsub 1mb 0 0"), "OK")
	if tc, ok := sub.nc.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4 << 10)
	}
	want(t, "psubscribe", sub.call("PSUBSCRIBE", "__key*@0__:*"), arr("psubscribe", "__key*@0__:*", int64(1)))
	key := "{k}" + strings.Repeat("k", 64<<10) // each SET sends the key twice
	for i := 0; infoField(t, c, "client_output_buffer_limit_disconnections") == "0"; i++ {
		if i == 4000 {
			t.Fatal("the subscriber was not disconnected after 500 MB of events")
		}
		want(t, "set", c.call("SET", key, "v"), "OK")
	}
	testutil.Eventually(t, 5e9, "the subscriber gone", func() bool {
		return c.call("PUBSUB", "NUMPAT") == int64(0)
	})
}

// BenchmarkNotify measures one command's event hook: off, and on (KEA) with no
// subscriber and with one pattern subscriber whose connection is drained.
func BenchmarkNotify(b *testing.B) {
	for _, tc := range []struct {
		name    string
		classes notifyClass
		sub     bool
	}{{"off", 0, false}, {"on", notifyAll | notifyKeyspace | notifyKeyevent, false}, {"on-psubscriber", notifyAll | notifyKeyspace | notifyKeyevent, true}} {
		b.Run(tc.name, func(b *testing.B) {
			s, dial := startServer(b, Config{Replication: Standalone{}})
			s.setKeyEvents(tc.classes)
			if tc.sub {
				sub := dial()
				sub.send("PSUBSCRIBE", "__key*@0__:*")
				go func() { _, _ = io.Copy(io.Discard, sub.nc) }()
				testutil.Eventually(b, 5e9, "the subscription", func() bool {
					s.pubsub.mu.RLock()
					defer s.pubsub.mu.RUnlock()
					return len(s.pubsub.patterns) == 1
				})
			}
			c := &conn{s: s}
			key := []byte("{k}some:key")
			b.ReportAllocs()
			for b.Loop() {
				c.notify(notifyString, "set", key)
			}
		})
	}
}
