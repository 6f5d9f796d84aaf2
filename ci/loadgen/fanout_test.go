package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseFanoutRefusesBadFlagsByName(t *testing.T) {
	cfg, err := parseFanout([]string{"--addr", "a:1", "--pattern", "lg:*"}, io.Discard)
	if err != nil || cfg.subscribers != 50 || len(cfg.subAddrs) != 1 || cfg.subAddrs[0] != "a:1" || cfg.valueSize != 100 {
		t.Fatalf("cfg %+v, err %v", cfg, err)
	}
	cfg, err = parseFanout([]string{"--sub-addr", "a:1, b:2,c:3"}, io.Discard)
	if err != nil || strings.Join(cfg.subAddrs, " ") != "a:1 b:2 c:3" {
		t.Fatalf("--sub-addr: %q, %v", cfg.subAddrs, err)
	}
	for flag, bad := range map[string][]string{
		"--subscribers 0":  {"--subscribers", "0"},
		"--publishers 0":   {"--publishers", "0"},
		"--rate -1":        {"--rate", "-1"},
		"--value-size 20":  {"--value-size", "20"},
		"--duration 0s":    {"--duration", "0s"},
		"--drain -1s":      {"--drain", "-1s"},
		"--timeout 0s":     {"--timeout", "0s"},
		"--channel":        {"--channel", ""},
		`--pattern "x*"`:   {"--pattern", "x*"},
		`--sub-addr " , "`: {"--sub-addr", " , "},
		"unexpected argu":  {"extra"},
	} {
		_, err := parseFanout(bad, io.Discard)
		if err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("%s: error %v, want one naming %q", strings.Join(bad, " "), err, flag)
		}
	}
}

func TestGlobMatchAsRedisForStarAndQuestionMark(t *testing.T) {
	for _, c := range []struct {
		pattern, s string
		want       bool
	}{
		{"lg:*", "lg:fanout", true}, {"*", "", true}, {"lg:f?nout", "lg:fanout", true}, {"*out", "lg:fanout", true},
		{"lg:*x", "lg:fanout", false}, {"lg:?", "lg:", false}, {"lg", "lg:fanout", false}, {"lg:[f]anout", "lg:fanout", false},
	} {
		if got := globMatch(c.pattern, c.s); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v", c.pattern, c.s, got)
		}
	}
}

func TestFanoutValueRoundTrips(t *testing.T) {
	v := appendFanoutValue(nil, 3, 12345, 987654321, 100)
	if len(v) != 100 || !strings.HasPrefix(string(v), "3:12345:987654321:...") {
		t.Fatalf("value %q", v)
	}
	pub, seq, ns, ok := parseFanoutValue(v)
	if !ok || pub != 3 || seq != 12345 || ns != 987654321 {
		t.Errorf("parsed %d %d %d %v", pub, seq, ns, ok)
	}
	for _, bad := range []string{"", "3:4:5", "3:4:x:", ":4:5:", "99999999999999999999:1:1:"} {
		if _, _, _, ok := parseFanoutValue([]byte(bad)); ok {
			t.Errorf("parseFanoutValue(%q) accepted", bad)
		}
	}
}

func TestFanoutTallyCountsLossesAndDisorder(t *testing.T) {
	msg := func(pub, seq int64) []byte { return appendFanoutValue(nil, pub, seq, 1000, 64) }
	tl := newFanoutTally(2)
	// Publisher 0 sent 1..4, publisher 1 sent 1..3: 7 messages. The subscriber gets
	// publisher 0's 1, 2, 4 (3 lost), then 2 again; publisher 1's 1, 3, 2 (2 late).
	for _, m := range [][2]int64{{0, 1}, {0, 2}, {1, 1}, {0, 4}, {1, 3}, {0, 2}, {1, 2}} {
		if err := tl.deliver(kindMessage, msg(m[0], m[1]), 5000); err != nil {
			t.Fatal(err)
		}
	}
	if got := tl.received.Load(); got != 7 {
		t.Errorf("received %d, want 7", got)
	}
	if tl.disorder != 2 {
		t.Errorf("disorder %d, want 2 (a duplicate and a late one)", tl.disorder)
	}
	// In order: 0:1 0:2 1:1 0:4 1:3, 5 of 7; a late message counts as not received.
	if got := tl.lost(7, 1); got != 2 {
		t.Errorf("lost %d, want 2", got)
	}
	// With a pattern the pmessages count apart: none came, all 7 are lost there too.
	if got := tl.lost(7, 2); got != 9 {
		t.Errorf("lost with pmessages %d, want 9", got)
	}
	if tl.hist.total != 7 || tl.hist.max != 4000 || tl.lastNs != 5000 {
		t.Errorf("latencies: %d samples, max %v, last %d", tl.hist.total, tl.hist.max, tl.lastNs)
	}
	for _, bad := range [][]byte{msg(2, 1), msg(0, 0), []byte("hello")} {
		if err := tl.deliver(kindMessage, bad, 5000); err == nil {
			t.Errorf("deliver(%q): no error", bad)
		}
	}
}

func TestPushReaderReadsMessagesAndConfirmations(t *testing.T) {
	in := "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n" +
		"*4\r\n$8\r\npmessage\r\n$3\r\nch*\r\n$2\r\nch\r\n$5\r\nhello\r\n" +
		"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$0\r\n\r\n" +
		"+OK\r\n"
	r := bufio.NewReader(strings.NewReader(in))
	var p pushReader
	for _, want := range []string{"subscribe ch 1", "pmessage ch* ch hello", "message ch "} {
		elems, err := p.read(r)
		if err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(elems))
		for i, e := range elems {
			parts[i] = string(e)
		}
		if got := strings.Join(parts, " "); got != want {
			t.Errorf("read %q, want %q", got, want)
		}
	}
	if _, err := p.read(r); err == nil {
		t.Error("a simple string read as a push")
	}
	for _, bad := range []string{"*1\r\n+x\r\n", "*1\r\n$-1\r\n", "*x\r\n", "*1\r\n$5\r\nab"} {
		if _, err := p.read(bufio.NewReader(strings.NewReader(bad))); err == nil {
			t.Errorf("read(%q): no error", bad)
		}
	}
}

func TestFanoutLoadDeliversEveryMessageFromRedis(t *testing.T) {
	addr := redisServer(t)
	res, err := fanoutLoad(context.Background(), fanoutConfig{addr: addr, subAddrs: []string{addr}, channel: "ch", pattern: "c*",
		subscribers: 5, publishers: 2, valueSize: 100, duration: 300 * time.Millisecond, drain: 5 * time.Second, timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Published == 0 || res.PublishErrs != 0 || res.ReceiversMin != 10 || res.ReceiversMax != 10 {
		t.Fatalf("want messages published, each to 5 subscribers twice: %+v", res)
	}
	if res.Expected != res.Published*10 || res.Delivered != res.Expected || res.Lost != 0 || res.Disorder != 0 || res.Disconnected != 0 {
		t.Errorf("counts disagree: %+v", res)
	}
	if res.DeliveryP99 <= 0 || res.DeliveredPS <= 0 || res.DeliveryMax < res.DeliveryP99 {
		t.Errorf("latencies or rates missing: %+v", res)
	}
}

func TestFanoutLoadPacesToTheRate(t *testing.T) {
	addr := redisServer(t)
	res, err := fanoutLoad(context.Background(), fanoutConfig{addr: addr, subAddrs: []string{addr}, channel: "ch",
		subscribers: 2, publishers: 2, rate: 100, valueSize: 100, duration: 500 * time.Millisecond, drain: 5 * time.Second, timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// 100 messages/s over 0.5 s: 50, 25 per publisher, the first of each at once.
	if res.Published < 1 || res.Published > 52 || res.Lost != 0 {
		t.Errorf("published %d at 100/s for 0.5 s, want at most 52: %+v", res.Published, res)
	}
}
