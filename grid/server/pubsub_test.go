package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/cluster"
)

// readValue reads one RESP2/RESP3 value as a test-friendly tree: strings (simple, bulk,
// verbatim), "-ERR ..." for errors, int64, nil, []any for arrays, sets and maps, and
// pushed{...} for pushes.
func readValue(br *bufio.Reader) (any, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, fmt.Errorf("empty RESP line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return "-" + body, nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '_':
		return nil, nil
	case '$', '=':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, err
		}
		return string(b[:n]), nil
	case '*', '~', '%', '>':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		if line[0] == '%' {
			n *= 2
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = readValue(br); err != nil {
				return nil, err
			}
		}
		if line[0] == '>' {
			return pushed(out), nil
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown RESP type %q", line)
}

// pushed is a RESP3 push, told apart from an array.
type pushed []any

// send writes a command and reads one value.
func (c *testClient) call(args ...string) any {
	c.t.Helper()
	c.send(args...)
	return c.readAny()
}

// readAny reads one value of any type.
func (c *testClient) readAny() any {
	c.t.Helper()
	if err := c.nc.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		c.t.Fatal(err)
	}
	v, err := readValue(c.br)
	if err != nil {
		c.t.Fatal(err)
	}
	return v
}

// want compares the printed forms of got and want.
func want(t *testing.T, what string, got, want any) {
	t.Helper()
	if g, w := fmt.Sprintf("%#v", got), fmt.Sprintf("%#v", want); g != w {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func arr(v ...any) []any { return append([]any{}, v...) }

func TestPubSubRESP2(t *testing.T) {
	_, dial := startServer(t, Config{Replication: Standalone{}})
	sub, pub := dial(), dial()
	steps := []struct {
		c    *testClient
		cmd  []string
		want []any // replies, then messages on sub when c is pub
	}{
		{sub, []string{"SUBSCRIBE", "news", "sport"}, []any{arr("subscribe", "news", int64(1)), arr("subscribe", "sport", int64(2))}},
		{sub, []string{"SUBSCRIBE", "news"}, []any{arr("subscribe", "news", int64(2))}},
		{sub, []string{"PSUBSCRIBE", "n*", "h[ae]llo"}, []any{arr("psubscribe", "n*", int64(3)), arr("psubscribe", "h[ae]llo", int64(4))}},
		{pub, []string{"PUBLISH", "news", "hi"}, []any{int64(2), arr("message", "news", "hi"), arr("pmessage", "n*", "news", "hi")}},
		{pub, []string{"PUBLISH", "hallo", "x"}, []any{int64(1), arr("pmessage", "h[ae]llo", "hallo", "x")}},
		{pub, []string{"PUBLISH", "nobody", ""}, []any{int64(1), arr("pmessage", "n*", "nobody", "")}},
		{pub, []string{"PUBLISH", "other", "x"}, []any{int64(0)}},
		// The empty channel matches no pattern but the empty one, as in Redis.
		{pub, []string{"PUBLISH", "", "x"}, []any{int64(0)}},
		{sub, []string{"GET", "{k}a"}, []any{"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"}},
		{sub, []string{"PUBSUB", "NUMPAT"}, []any{"-ERR Can't execute 'pubsub|numpat': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"}},
		{sub, []string{"PING"}, []any{arr("pong", "")}},
		{sub, []string{"PING", "x"}, []any{arr("pong", "x")}},
		{pub, []string{"PUBSUB", "CHANNELS"}, []any{arr("news", "sport")}},
		{pub, []string{"PUBSUB", "CHANNELS", "s*"}, []any{arr("sport")}},
		{pub, []string{"PUBSUB", "NUMSUB", "news", "none"}, []any{arr("news", int64(1), "none", int64(0))}},
		{pub, []string{"PUBSUB", "NUMSUB"}, []any{arr()}},
		{pub, []string{"PUBSUB", "NUMPAT"}, []any{int64(2)}},
		{pub, []string{"PUBSUB", "NUMPAT", "x"}, []any{"-ERR wrong number of arguments for 'pubsub|numpat' command"}},
		{pub, []string{"PUBSUB", "channels", "a", "b"}, []any{"-ERR unknown subcommand or wrong number of arguments for 'channels'. Try PUBSUB HELP."}},
		{pub, []string{"PUBSUB", "nope"}, []any{"-ERR unknown subcommand 'nope'. Try PUBSUB HELP."}},
		{pub, []string{"SUBSCRIBE"}, []any{"-ERR wrong number of arguments for 'subscribe' command"}},
		{pub, []string{"UNSUBSCRIBE"}, []any{arr("unsubscribe", nil, int64(0))}},
		{sub, []string{"PUNSUBSCRIBE"}, []any{arr("punsubscribe", "n*", int64(3)), arr("punsubscribe", "h[ae]llo", int64(2))}},
		{sub, []string{"UNSUBSCRIBE", "news", "nope"}, []any{arr("unsubscribe", "news", int64(1)), arr("unsubscribe", "nope", int64(1))}},
		{sub, []string{"UNSUBSCRIBE"}, []any{arr("unsubscribe", "sport", int64(0))}},
		// Out of subscribed mode again.
		{sub, []string{"PING"}, []any{"PONG"}},
		{sub, []string{"GET", "{k}a"}, []any{nil}},
	}
	for i, st := range steps {
		st.c.send(st.cmd...)
		for j, w := range st.want {
			c := st.c
			if j > 0 && st.c == pub {
				c = sub
			}
			want(t, fmt.Sprintf("step %d %q value %d", i, st.cmd, j), c.readAny(), w)
		}
	}
}

func TestPubSubRESP3(t *testing.T) {
	_, dial := startServer(t, Config{Replication: Standalone{}})
	sub, pub := dial(), dial()
	if v := sub.call("HELLO", "3"); v == nil {
		t.Fatal("HELLO 3 failed")
	}
	want(t, "subscribe", sub.call("SUBSCRIBE", "ch"), pushed{"subscribe", "ch", int64(1)})
	want(t, "psubscribe", sub.call("PSUBSCRIBE", "c*"), pushed{"psubscribe", "c*", int64(2)})
	// Any command runs in RESP3 with subscriptions, PING answers as usual.
	want(t, "set", sub.call("SET", "{k}a", "1"), "OK")
	want(t, "ping", sub.call("PING"), "PONG")
	want(t, "publish", pub.call("PUBLISH", "ch", "m"), int64(2))
	want(t, "message", sub.readAny(), pushed{"message", "ch", "m"})
	want(t, "pmessage", sub.readAny(), pushed{"pmessage", "c*", "ch", "m"})
	want(t, "unsubscribe none", sub.call("SUNSUBSCRIBE"), pushed{"sunsubscribe", nil, int64(0)})
	want(t, "unsubscribe", sub.call("UNSUBSCRIBE", "ch"), pushed{"unsubscribe", "ch", int64(1)})
	want(t, "get", sub.call("GET", "{k}a"), "1")
}

// The shard channels {k}... hash to slot 7629, on this server's partition; "a" and "foo"
// hash to partition 1.
func TestShardPubSub(t *testing.T) {
	s, dial := startServer(t, Config{Replication: Standalone{}})
	sub, pub := dial(), dial()
	want(t, "ssubscribe", sub.call("SSUBSCRIBE", "{k}a", "{k}b"), arr("ssubscribe", "{k}a", int64(1)))
	want(t, "ssubscribe 2", sub.readAny(), arr("ssubscribe", "{k}b", int64(2)))
	want(t, "subscribe counts apart", sub.call("SUBSCRIBE", "{k}a"), arr("subscribe", "{k}a", int64(1)))
	want(t, "crossslot", sub.call("SSUBSCRIBE", "{k}c", "{z}c"), "-"+errCrossSlot)
	want(t, "moved", sub.call("SSUBSCRIBE", "a"), fmt.Sprintf("-MOVED %d 127.0.0.1:7001", 15495))
	want(t, "spublish moved", pub.call("SPUBLISH", "foo", "x"), fmt.Sprintf("-MOVED %d 127.0.0.1:7001", 12182))
	want(t, "spublish", pub.call("SPUBLISH", "{k}a", "m"), int64(1))
	want(t, "smessage", sub.readAny(), arr("smessage", "{k}a", "m"))
	want(t, "publish is not spublish", pub.call("PUBLISH", "{k}b", "m"), int64(0))
	want(t, "shardchannels", pub.call("PUBSUB", "SHARDCHANNELS"), arr("{k}a", "{k}b"))
	want(t, "shardchannels pattern", pub.call("PUBSUB", "SHARDCHANNELS", "*b"), arr("{k}b"))
	want(t, "shardnumsub", pub.call("PUBSUB", "SHARDNUMSUB", "{k}a", "x"), arr("{k}a", int64(1), "x", int64(0)))
	want(t, "channels", pub.call("PUBSUB", "CHANNELS"), arr("{k}a"))
	want(t, "getkeys", pub.call("COMMAND", "GETKEYS", "SSUBSCRIBE", "{k}a", "{k}b"), arr("{k}a", "{k}b"))
	want(t, "info stats", strings.Contains(pub.call("INFO", "stats").(string), "pubsubshard_channels:2\r\n"), true)

	// While the slot migrates, its shard channels stay with the source.
	s.SetView(movingView(t, "p0-i0", cluster.MoveMigrating))
	want(t, "spublish migrating", pub.call("SPUBLISH", "{k}a", "m2"), int64(1))
	want(t, "smessage migrating", sub.readAny(), arr("smessage", "{k}a", "m2"))
	// Once it is handed to the target, its subscribers are told (channel by channel, in
	// name order) and clients are sent on.
	s.SetView(movingView(t, "p0-i0", cluster.MoveHandoff))
	got := []any{sub.readAny(), sub.readAny()}
	want(t, "sunsubscribe on handoff", got, arr(arr("sunsubscribe", "{k}a", int64(1)), arr("sunsubscribe", "{k}b", int64(0))))
	moved := fmt.Sprintf("-MOVED %d 127.0.0.1:7002", slotK)
	want(t, "spublish after", pub.call("SPUBLISH", "{k}a", "m3"), moved)
	want(t, "ssubscribe after", sub.call("SSUBSCRIBE", "{k}a"), moved)
	want(t, "shardchannels after", pub.call("PUBSUB", "SHARDCHANNELS"), arr())
	// The classic subscription is untouched and keeps the connection subscribed.
	want(t, "echo", sub.call("ECHO", "x"), "-ERR Can't execute 'echo': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
	want(t, "quit", sub.call("QUIT"), "OK")
}

// TestSlowSubscriberDisconnected: a subscriber that does not read is closed once its
// queue passes the hard limit, and publishing goes on meanwhile.
func TestSlowSubscriberDisconnected(t *testing.T) {
	s, dial := startServer(t, Config{Replication: Standalone{}})
	s.pubsub.limit.Store(&outputLimit{hard: 1 << 20})
	sub, pub := dial(), dial()
	if tc, ok := sub.nc.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4 << 10)
	}
	want(t, "subscribe", sub.call("SUBSCRIBE", "firehose"), arr("subscribe", "firehose", int64(1)))
	msg := strings.Repeat("x", 256<<10)
	// The socket buffers take some megabytes first; the bound only keeps a broken
	// server from looping forever.
	for i := 0; ; i++ {
		if i == 2000 {
			t.Fatal("the subscriber was not disconnected after 500 MB")
		}
		if n := pub.call("PUBLISH", "firehose", msg); n == int64(0) {
			break
		}
	}
	info := pub.call("INFO", "stats").(string)
	if !strings.Contains(info, "client_output_buffer_limit_disconnections:1\r\n") {
		t.Fatalf("INFO stats does not count the disconnection:\n%s", info)
	}
	want(t, "numsub", pub.call("PUBSUB", "NUMSUB", "firehose"), arr("firehose", int64(0)))
}

// TestPubSubGoRedis drives pub/sub with go-redis in both protocols.
func TestPubSubGoRedis(t *testing.T) {
	_, dial := startServer(t, Config{Replication: Standalone{}})
	addr := dial().nc.RemoteAddr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprintf("RESP%d", proto), func(t *testing.T) {
			rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: proto})
			defer rdb.Close()
			ps := rdb.Subscribe(ctx, "go.news")
			defer ps.Close()
			if _, err := ps.Receive(ctx); err != nil {
				t.Fatal(err)
			}
			if err := ps.PSubscribe(ctx, "go.*"); err != nil {
				t.Fatal(err)
			}
			sps := rdb.SSubscribe(ctx, "{k}go")
			defer sps.Close()
			if _, err := sps.Receive(ctx); err != nil {
				t.Fatal(err)
			}
			// The psubscribe confirmation comes first on ps.
			if v, err := ps.Receive(ctx); err != nil {
				t.Fatal(err)
			} else if s, ok := v.(*redis.Subscription); !ok || s.Kind != "psubscribe" {
				t.Fatalf("psubscribe confirmation: %#v", v)
			}
			if n, err := rdb.Publish(ctx, "go.news", "hello").Result(); err != nil || n != 2 {
				t.Fatalf("publish: %d %v", n, err)
			}
			if n, err := rdb.SPublish(ctx, "{k}go", "shard").Result(); err != nil || n != 1 {
				t.Fatalf("spublish: %d %v", n, err)
			}
			var got []string
			for range 2 {
				m, err := ps.ReceiveMessage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, m.Pattern+"|"+m.Channel+"|"+m.Payload)
			}
			m, err := sps.ReceiveMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, m.Channel+"|"+m.Payload)
			want(t, "messages", got, []string{"|go.news|hello", "go.*|go.news|hello", "{k}go|shard"})
		})
	}
}
