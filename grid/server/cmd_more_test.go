package server

import (
	"strings"
	"testing"
)

// TestLCSBoundsItsTable: strings whose LCS table would pass maxLCSCells get Redis's reply
// to a failed allocation, at once.
func TestLCSBoundsItsTable(t *testing.T) {
	_, dial := startServer(t, Config{Replication: Standalone{}})
	c := dial()
	c.expect(encodeCmd("SET", "{k}x", strings.Repeat("a", 12000)), "+OK\r\n")
	c.expect(encodeCmd("SET", "{k}y", strings.Repeat("b", 12000)), "+OK\r\n")
	c.expect(encodeCmd("LCS", "{k}x", "{k}y"), "-ERR Insufficient memory, failed allocating transient memory for LCS\r\n")
	c.expect(encodeCmd("SET", "{k}y", "xaay"), "+OK\r\n")
	c.expect(encodeCmd("LCS", "{k}x", "{k}y", "LEN"), ":2\r\n")
}

// TestRESP3Replies checks the replies whose shape RESP3 changes, as redis-server 7.0
// answers them after HELLO 3.
func TestRESP3Replies(t *testing.T) {
	_, dial := startServer(t, Config{Replication: Standalone{}})
	c := dial()
	c.expect(encodeCmd("HSET", "{k}h", "f", "v"), ":1\r\n")
	c.expect(encodeCmd("SET", "{k}a", "ohmytext"), "+OK\r\n")
	c.expect(encodeCmd("SET", "{k}b", "mynewtext"), "+OK\r\n")
	hello := encodeCmd("HELLO", "3")
	if _, err := c.nc.Write([]byte(hello)); err != nil {
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
	c.expect(encodeCmd("HRANDFIELD", "{k}h", "1", "WITHVALUES"), "*1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n")
	c.expect(encodeCmd("HRANDFIELD", "{k}h", "-2"), "*2\r\n$1\r\nf\r\n$1\r\nf\r\n")
	c.expect(encodeCmd("LCS", "{k}a", "{k}b", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"),
		"%2\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n")
	c.expect(encodeCmd("GETDEL", "{k}none"), "_\r\n")
	c.expect(encodeCmd("HSCAN", "{k}h", "0"), "*2\r\n$1\r\n0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n")
	c.expect(encodeCmd("HKEYS", "{k}h"), "*1\r\n$1\r\nf\r\n")
}
