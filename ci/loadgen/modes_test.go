package main

import (
	"context"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/slots"
)

func TestAppendPaddedKeepsTwelveDigits(t *testing.T) {
	for n, want := range map[int64]string{0: "000000000000", 42: "000000000042", 123456789012: "123456789012", 1234567890123: "1234567890123"} {
		if got := string(appendPadded([]byte("k:"), n)); got != "k:"+want {
			t.Errorf("appendPadded(%d) = %q, want %q", n, got, "k:"+want)
		}
	}
}

func TestCrossingInterpolatesBetweenSamples(t *testing.T) {
	tl := []point{{0, 0}, {time.Second, 100}, {2 * time.Second, 100}, {3 * time.Second, 300}}
	for b, want := range map[float64]time.Duration{0: 0, 50: 500 * time.Millisecond, 100: time.Second, 200: 2500 * time.Millisecond, 300: 3 * time.Second, 999: 3 * time.Second} {
		if got := crossing(tl, b); got != want {
			t.Errorf("crossing(%v) = %s, want %s", b, got, want)
		}
	}
}

func TestInfoField(t *testing.T) {
	info := []byte("# Memory\r\nused_memory:1234\r\nused_memory_human:1K\r\nmaxmemory:0\r\n")
	for name, want := range map[string]string{"used_memory": "1234", "maxmemory": "0", "used": "", "absent": ""} {
		if got := infoField(info, name); got != want {
			t.Errorf("infoField(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestTagForMapsToTheSlot(t *testing.T) {
	for _, s := range []int{0, 1, 5461, 10922, 16383} {
		tag := tagFor(s)
		if got := slots.OfString("{" + tag + "}:probe:7"); got != s {
			t.Errorf("tagFor(%d) = %q, whose keys map to slot %d", s, tag, got)
		}
	}
}

func TestModesRefuseBadFlags(t *testing.T) {
	for _, bad := range [][]string{
		{"fill", "--keys", "0"}, {"fill", "--type", "list"}, {"fill", "--pipeline", "0"}, {"fill", "extra"},
		{"stream", "--producers", "0"}, {"stream", "--consumers", "-1"}, {"stream", "--count", "0"},
		{"stream", "--duration", "0s"}, {"stream", "--key", ""}, {"stream", "extra"},
		{"oom", "--clients", "0"}, {"oom", "--max-duration", "0s"}, {"oom", "--cgroup", "/nonexistent"},
		{"probe"}, {"probe", "--slots", "16384"}, {"probe", "--slots", "1", "--interval", "0s"},
	} {
		var stderr strings.Builder
		if code := run(bad, io.Discard, &stderr); code != 2 {
			t.Errorf("loadgen %s: exit %d, want 2 (stderr %q)", strings.Join(bad, " "), code, stderr.String())
		}
	}
}

// redisServer starts a redis-server with args on a free port for the test, or skips.
func redisServer(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed (ci/tools.sh installs it)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("redis-server", append([]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no", "--dir", t.TempDir()}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := dialRESP(addr, time.Second)
		if err == nil {
			_, err = c.do("PING")
			c.Close()
			if err == nil {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s does not answer: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFillWritesExactlyTheKeys(t *testing.T) {
	addr := redisServer(t)
	ctx := context.Background()
	res, err := fill(ctx, fillConfig{addr: addr, keys: 1234, kind: "string", valueSize: 100, fields: 5, clients: 3, pipeline: 100, prefix: "key", timeout: 5 * time.Second})
	if err != nil || res.Written != 1234 || res.Errors != 0 {
		t.Fatalf("fill strings: %+v, %v", res, err)
	}
	if _, err := fill(ctx, fillConfig{addr: addr, keys: 10, kind: "hash", valueSize: 10, fields: 5, clients: 2, pipeline: 3, prefix: "h", timeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	c, err := dialRESP(addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for cmd, want := range map[string]string{
		"DBSIZE": "1244", "STRLEN key:000000001233": "100", "EXISTS key:000000001234": "0",
		"HLEN h:000000000009": "5", "HSTRLEN h:000000000000 f4": "10",
	} {
		got, err := c.do(strings.Fields(cmd)...)
		if err != nil || string(got) != want {
			t.Errorf("%s = %q (%v), want %s", cmd, got, err, want)
		}
	}
}

func TestOOMStopsAfterTheFirstOOMReply(t *testing.T) {
	addr := redisServer(t, "--maxmemory", "4mb")
	res, err := oomFill(context.Background(), oomConfig{addr: addr, clients: 4, valueSize: 1000, after: 200 * time.Millisecond,
		maxDur: 30 * time.Second, sample: 10 * time.Millisecond, prefix: "f", timeout: 5 * time.Second, limit: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if !res.FirstOOM || res.OOMReplies == 0 || res.BytesAtFirstOOM <= 0 || res.BytesAtFirstOOM > res.AckedBytes {
		t.Fatalf("no first -OOM recorded: %+v", res)
	}
	if res.MaxMemory != 4<<20 || res.UsedMemAtOOM < 4<<20 {
		t.Errorf("maxmemory %d, used_memory at the first -OOM %d: want 4 MiB and at least that", res.MaxMemory, res.UsedMemAtOOM)
	}
	if res.OtherErrors != 0 || res.ProcessDied || res.FirstTenthBps <= 0 || res.LastTenthBps <= 0 {
		t.Errorf("unexpected result: %+v", res)
	}
}
