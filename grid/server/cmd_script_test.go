package server

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/internal/testutil"
	"github.com/insightgrid/insight/grid/script"
)

// Keys tagged {k} (slot 7629) are served by the test server (partition 0, slots 0-8191);
// {j} (slot 4945) is another slot it serves; "a" (slot 15495) is partition 1's.

// TestScriptBusyAndKill runs a script that loops forever: past busy-reply-threshold every
// other client of the instance is answered BUSY (one waiting for the script's slot too),
// SCRIPT KILL ends the script, whose client gets Redis's error, and the instance serves
// again.
func TestScriptBusyAndKill(t *testing.T) {
	s, dial := startServer(t, Config{Replication: Standalone{}})
	a, b, waiter := dial(), dial(), dial()
	b.expect(encodeCmd("CONFIG", "SET", "busy-reply-threshold", "500"), "+OK\r\n")
	body := "local i = 0 while true do i = i + 1 end"
	a.send("EVAL", body, "1", "{k}a")
	// A client of the script's slot, sent once the script holds the slot's gate, waits
	// for it, then is answered BUSY.
	gate := &s.gates[7629]
	testutil.Eventually(t, 10*time.Second, "the script holds its slot's gate", func() bool {
		if gate.TryRLock() {
			gate.RUnlock()
			return false
		}
		return s.scripts.active.Load() == 1
	})
	waiter.send("GET", "{k}a")
	waitBusy(t, b)
	waiter.read("-" + errBusy + "\r\n")
	b.expect(encodeCmd("GET", "{j}x"), "-"+errBusy+"\r\n")
	b.expect(encodeCmd("FUNCTION", "KILL"), "-"+errBusy+"\r\n")
	b.expect(encodeCmd("SCRIPT", "KILL"), "+OK\r\n")
	a.read("-ERR Script killed by user with SCRIPT KILL... script: " + script.SHA1Hex([]byte(body)) + ", on @user_script:1.\r\n")
	b.expect(encodeCmd("GET", "{k}a"), "$-1\r\n")
	b.expect(encodeCmd("SCRIPT", "KILL"), "-"+errNotBusy+"\r\n")
	a.expect(encodeCmd("PING"), "+PONG\r\n")
}

// TestScriptUnkillable: a script that wrote is not killed; it ends by itself and its
// write stays.
func TestScriptUnkillable(t *testing.T) {
	_, dial := startServer(t, Config{Replication: Standalone{}})
	a, b := dial(), dial()
	b.expect(encodeCmd("CONFIG", "SET", "lua-time-limit", "100"), "+OK\r\n")
	b.expect(encodeCmd("CONFIG", "GET", "busy-reply-threshold"), "*2\r\n$20\r\nbusy-reply-threshold\r\n$3\r\n100\r\n")
	// Writes, then loops for a second of the server's clock (TIME), then answers.
	body := `redis.call('set', KEYS[1], 'x')
local s = redis.call('time')
repeat local n = redis.call('time') until (n[1] - s[1]) * 1000000 + (n[2] - s[2]) > 1000000
return 'done'`
	a.send("EVAL", body, "1", "{k}a")
	waitBusy(t, b)
	b.expect(encodeCmd("SCRIPT", "KILL"), "-"+errUnkillable+"\r\n")
	a.read("$4\r\ndone\r\n")
	b.expect(encodeCmd("GET", "{k}a"), "$1\r\nx\r\n")
}

// waitBusy sends PING until the instance answers BUSY.
func waitBusy(t *testing.T, c *testClient) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if v := c.call("PING"); v == "-"+errBusy || v == "-"+errBusyFunction {
			return
		} else if v != "PONG" {
			t.Fatalf("PING: %v", v)
		}
		if time.Now().After(deadline) {
			t.Fatal("the instance never answered BUSY")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestScriptCloseEndsRunawayScript: closing the server ends a script that never does.
func TestScriptCloseEndsRunawayScript(t *testing.T) {
	s, dial := startServer(t, Config{Replication: Standalone{}})
	a, b := dial(), dial()
	b.expect(encodeCmd("CONFIG", "SET", "busy-reply-threshold", "50"), "+OK\r\n")
	a.send("EVAL", "redis.call('set', KEYS[1], 'x') while true do end", "1", "{k}a")
	waitBusy(t, b)
	done := make(chan error, 1)
	go func() { done <- s.Close(t.Context()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the script")
	}
}

// TestScriptRoutingAndRefusals covers what the grid checks around a script: KEYS of two
// slots, KEYS of another partition, keys of another slot or partition inside the script,
// keyless writes, OOM at the start and inside, and scripts inside MULTI.
func TestScriptRoutingAndRefusals(t *testing.T) {
	s, dial := startServer(t, Config{Replication: Standalone{}})
	c := dial()
	sha := func(body string) string { return script.SHA1Hex([]byte(body)) }
	steps := []struct {
		cmd  []string
		want string
	}{
		{[]string{"EVAL", "return 1", "2", "{k}a", "{j}b"}, "-" + errCrossSlot + "\r\n"},
		{[]string{"EVAL", "return 1", "1", "a"}, "-MOVED 15495 127.0.0.1:7001\r\n"},
		{[]string{"EVAL", "return redis.call('get', 'a')", "0"}, "-ERR Script attempted to access a non local key in a cluster node script: " + sha("return redis.call('get', 'a')") + ", on @user_script:1.\r\n"},
		{[]string{"EVAL", "return redis.call('get', '{j}a')", "1", "{k}a"}, "-ERR Script attempted to access keys that do not hash to the same slot script: " + sha("return redis.call('get', '{j}a')") + ", on @user_script:1.\r\n"},
		{[]string{"EVAL", "return redis.call('flushall')", "0"}, "-ERR FLUSHALL is not allowed from scripts in the grid: a write without keys spans every slot, and a script holds one script: " + sha("return redis.call('flushall')") + ", on @user_script:1.\r\n"},
		{[]string{"EVAL", "redis.call('set', '{k}x', '1') return redis.call('incr', '{k}x')", "0"}, ":2\r\n"},
		{[]string{"EVAL", "return redis.call('blpop', KEYS[1], 0)", "1", "{k}list"}, "-ERR This Redis command is not allowed from script script: " + sha("return redis.call('blpop', KEYS[1], 0)") + ", on @user_script:1.\r\n"},
		{[]string{"EVAL", "return redis.call('slotimport', '1', '2', '3')", "0"}, "-ERR This Redis command is not allowed from script script: " + sha("return redis.call('slotimport', '1', '2', '3')") + ", on @user_script:1.\r\n"},
		{[]string{"EVAL", "return redis.call('lmpop', 1, KEYS[1], 'left')", "1", "{k}list"}, "$-1\r\n"},
		{[]string{"MULTI"}, "+OK\r\n"},
		{[]string{"EVAL", "return redis.call('incr', KEYS[1])", "1", "{k}x"}, "+QUEUED\r\n"},
		{[]string{"INCR", "{k}x"}, "+QUEUED\r\n"},
		{[]string{"EXEC"}, "*2\r\n:3\r\n:4\r\n"},
		{[]string{"CONFIG", "SET", "maxmemory", "1"}, "+OK\r\n"},
		{[]string{"EVAL", "#!lua\nreturn redis.call('set', KEYS[1], 'v')", "1", "{k}y"}, "-" + errOOM + "\r\n"},
		{[]string{"EVAL", "return redis.call('set', KEYS[1], 'v')", "1", "{k}y"}, "-" + errOOM + " script: " + sha("return redis.call('set', KEYS[1], 'v')") + ", on @user_script:1.\r\n"},
		// After a first write a denyoom command is let through, as in Redis; the store
		// still refuses a write past maxmemory (the grid's store is memory-exact).
		{[]string{"EVAL", "redis.call('del', KEYS[1]) return redis.pcall('set', KEYS[1], 'v')", "1", "{k}y"}, "-" + errOOM + "\r\n"},
		{[]string{"EVAL", "#!lua flags=allow-oom\nreturn redis.call('get', KEYS[1])", "1", "{k}x"}, "$1\r\n4\r\n"},
		{[]string{"EVAL", "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])", "1", "{k}x"}, "$1\r\n4\r\n"},
		{[]string{"CONFIG", "SET", "maxmemory", "0"}, "+OK\r\n"},
		{[]string{"CONFIG", "SET", "busy-reply-threshold", "-1"}, "-ERR CONFIG SET failed (possibly related to argument 'busy-reply-threshold') - argument must be between 0 and 2147483647 inclusive\r\n"},
		{[]string{"CONFIG", "SET", "lua-time-limit", "x"}, "-ERR CONFIG SET failed (possibly related to argument 'lua-time-limit') - argument couldn't be parsed into an integer\r\n"},
	}
	for _, st := range steps {
		c.expect(encodeCmd(st.cmd...), st.want)
	}
	if n := s.scripts.active.Load(); n != 0 {
		t.Errorf("%d scripts still registered", n)
	}
}

// TestScriptWritesAreOneUnitAndWakeWaiters: a blocked client is served by a script's
// push, once the script is done.
func TestScriptWritesWakeBlockedClients(t *testing.T) {
	s, dial := startServer(t, Config{Replication: Standalone{}})
	a, b := dial(), dial()
	a.send("BLPOP", "{k}q", "0")
	waitBlocked(t, s, 1)
	b.expect(encodeCmd("EVAL", "redis.call('rpush', KEYS[1], 'x', 'y') return redis.call('llen', KEYS[1])", "1", "{k}q"), ":2\r\n")
	a.read("*2\r\n$4\r\n{k}q\r\n$1\r\nx\r\n")
	b.expect(encodeCmd("LRANGE", "{k}q", "0", "-1"), "*1\r\n$1\r\ny\r\n")
}

// TestScriptReplyLimit: a reply over the cap is an error, not a huge buffer.
func TestScriptBadInput(t *testing.T) {
	_, dial := startServer(t, Config{Replication: Standalone{}})
	c := dial()
	for _, st := range []struct {
		cmd  []string
		want string
	}{
		{[]string{"EVAL", "return 1", "-1"}, "-ERR Number of keys can't be negative\r\n"},
		{[]string{"EVAL", "return 1", "3", "{k}a"}, "-ERR Number of keys can't be greater than number of args\r\n"},
		{[]string{"EVAL", "return 1", "one"}, "-" + errNotInteger + "\r\n"},
		{[]string{"EVALSHA", strings.Repeat("0", 40), "0"}, "-" + errNoScript + "\r\n"},
		{[]string{"EVAL", "return 1 +", "0"}, "-ERR Error compiling script (new function): user_script:1: syntax error near '<eof>'\r\n"},
		{[]string{"EVAL_RO", "return redis.call('set', KEYS[1], 'v')", "1", "{k}a"}, "-ERR Write commands are not allowed from read-only scripts. script: " + script.SHA1Hex([]byte("return redis.call('set', KEYS[1], 'v')")) + ", on @user_script:1.\r\n"},
		{[]string{"EVAL", "return string.rep('x', 100000000)", "0"}, "-ERR the script's reply is larger than the limit of 67108864 bytes\r\n"},
		{[]string{"EVAL", "local t = {} t[1] = t return t", "0"}, "-ERR reached lua stack limit\r\n"},
	} {
		c.expect(encodeCmd(st.cmd...), st.want)
	}
}

// TestBusyScriptRunsAtTheLeastPriority: a script past busy-reply-threshold runs on a
// thread of nice 19, so the rest of the machine keeps its share; after SCRIPT KILL the
// thread is gone (its priority cannot be raised again) and the script's client is served
// as before.
func TestBusyScriptRunsAtTheLeastPriority(t *testing.T) {
	_, dial := startServer(t, Config{Replication: Standalone{}})
	a, b := dial(), dial()
	b.expect(encodeCmd("CONFIG", "SET", "busy-reply-threshold", "200"), "+OK\r\n")
	if n := threadsAtNice(t, 19); n != 0 {
		t.Fatalf("%d threads at nice 19 before the script", n)
	}
	a.send("EVAL", "while true do end", "0")
	waitBusy(t, b)
	testutil.Eventually(t, 10*time.Second, "the busy script's thread at nice 19", func() bool {
		return threadsAtNice(t, 19) == 1
	})
	b.expect(encodeCmd("SCRIPT", "KILL"), "+OK\r\n")
	a.read("-ERR Script killed by user with SCRIPT KILL... script: " + script.SHA1Hex([]byte("while true do end")) + ", on @user_script:1.\r\n")
	a.expect(encodeCmd("PING"), "+PONG\r\n")
	testutil.Eventually(t, 10*time.Second, "no thread left at nice 19", func() bool {
		return threadsAtNice(t, 19) == 0
	})
	a.expect(encodeCmd("SET", "{k}a", "1"), "+OK\r\n")
	b.expect(encodeCmd("GET", "{k}a"), "$1\r\n1\r\n")
}

// threadsAtNice counts this process's threads whose nice value is n.
func threadsAtNice(t *testing.T, n int) int {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, e := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + e.Name() + "/stat")
		if err != nil {
			continue // ended meanwhile
		}
		// After the command's ")": state (field 3), ..., nice (field 19).
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 16 && f[16] == strconv.Itoa(n) {
			count++
		}
	}
	return count
}
