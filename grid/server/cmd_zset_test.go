package server

import (
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestZSetRESP3Replies checks the sorted-set replies whose RESP3 shape differs from
// RESP2 (doubles, member/score pairs), byte for byte as redis-server 7.0 answers them.
func TestZSetRESP3Replies(t *testing.T) {
	_, dial := startServer(t, Config{Replication: Standalone{}})
	c := dial()
	c.expect(encodeCmd("ZADD", "{k}z", "1.5", "a", "2", "b", "inf", "c"), ":3\r\n")
	c.expect(encodeCmd("ZRANGE", "{k}z", "0", "-1", "WITHSCORES"), "*6\r\n$1\r\na\r\n$3\r\n1.5\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$3\r\ninf\r\n")
	if _, err := c.nc.Write([]byte(encodeCmd("HELLO", "3"))); err != nil {
		t.Fatal(err)
	}
	// The HELLO reply (a map) is skipped up to the reply of the PING sent after it.
	c.expect(encodeCmd("PING", "end-of-hello"), "")
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "end-of-hello\r\n" {
			break
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ZRANGE", "{k}z", "0", "-1", "WITHSCORES"}, "*3\r\n*2\r\n$1\r\na\r\n,1.5\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nc\r\n,inf\r\n"},
		{[]string{"ZPOPMIN", "{k}z"}, "*2\r\n$1\r\na\r\n,1.5\r\n"},
		{[]string{"ZADD", "{k}z", "1.5", "a"}, ":1\r\n"},
		{[]string{"ZPOPMAX", "{k}z", "1"}, "*1\r\n*2\r\n$1\r\nc\r\n,inf\r\n"},
		{[]string{"ZSCORE", "{k}z", "a"}, ",1.5\r\n"},
		{[]string{"ZMPOP", "1", "{k}z", "MIN"}, "*2\r\n$4\r\n{k}z\r\n*1\r\n*2\r\n$1\r\na\r\n,1.5\r\n"},
		{[]string{"ZADD", "{k}z", "1.5", "a", "3", "d"}, ":2\r\n"},
		{[]string{"ZINCRBY", "{k}z", "1", "a"}, ",2.5\r\n"},
		{[]string{"ZMSCORE", "{k}z", "a", "x"}, "*2\r\n,2.5\r\n_\r\n"},
		{[]string{"ZUNION", "1", "{k}z", "WITHSCORES"}, "*3\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\na\r\n,2.5\r\n*2\r\n$1\r\nd\r\n,3\r\n"},
		{[]string{"ZSCAN", "{k}z", "0"}, "*2\r\n$1\r\n0\r\n*6\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\na\r\n$3\r\n2.5\r\n$1\r\nd\r\n$1\r\n3\r\n"},
		{[]string{"ZADD", "{k}z", "INCR", "XX", "1", "nope"}, "_\r\n"},
		{[]string{"ZPOPMIN", "{k}nokey"}, "*0\r\n"},
		{[]string{"ZMPOP", "1", "{k}nokey", "MIN"}, "_\r\n"},
		{[]string{"ZRANDMEMBER", "{k}nokey"}, "_\r\n"},
	} {
		c.expect(encodeCmd(tc.args...), tc.want)
	}
}

// TestZSetMemoryPerMember loads a 1M-member sorted set ("member:NNNNNNN", integer scores)
// through the protocol and logs INFO memory's used_memory and used_memory_rss growth per
// member, the figures redis-server 7.0 gives about 110 B for (used_memory and RSS alike).
func TestZSetMemoryPerMember(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a million members")
	}
	_, dial := startServer(t, Config{Replication: Standalone{}})
	c := dial()
	info := func() (used, rss int64) {
		if _, err := io.WriteString(c.nc, encodeCmd("INFO", "memory")); err != nil {
			t.Fatal(err)
		}
		head, err := c.br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(strings.TrimSpace(head[1:]))
		body := make([]byte, n+2)
		if _, err := io.ReadFull(c.br, body); err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(body), "\r\n") {
			k, v, _ := strings.Cut(line, ":")
			switch k {
			case "used_memory":
				used, _ = strconv.ParseInt(v, 10, 64)
			case "used_memory_rss":
				rss, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		return used, rss
	}
	used0, rss0 := info()
	const n = 1_000_000
	for batch := range n / 1000 {
		args := []string{"ZADD", "{k}z"}
		for i := batch * 1000; i < (batch+1)*1000; i++ {
			args = append(args, strconv.Itoa(i), fmt.Sprintf("member:%07d", i))
		}
		c.expect(encodeCmd(args...), ":1000\r\n")
	}
	runtime.GC()
	used, rss := info()
	t.Logf("1M-member zset: used_memory %.1f B/member, used_memory_rss %.1f B/member",
		float64(used-used0)/n, float64(rss-rss0)/n)
}
