package migrate

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/resp"
)

// fakeTarget answers each command it reads with the next of replies, recording the
// commands.
func fakeTarget(t *testing.T, replies ...string) (addr string, got chan [][]byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got = make(chan [][]byte, len(replies))
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		rd := resp.NewReader(nc, 1<<20)
		for _, r := range replies {
			args, err := rd.ReadCommand()
			if err != nil {
				return
			}
			cp := make([][]byte, len(args))
			for i, a := range args {
				cp[i] = append([]byte(nil), a...)
			}
			got <- cp
			if _, err := nc.Write([]byte(r)); err != nil {
				return
			}
		}
	}()
	return ln.Addr().String(), got
}

func TestConn(t *testing.T) {
	addr, got := fakeTarget(t, "+OK\r\n", "+OK\r\n", "-TRYAGAIN not yet\r\n", ":1\r\n")
	c, err := dial(addr, "secret", nil, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if auth := <-got; len(auth) != 2 || string(auth[0]) != "AUTH" || string(auth[1]) != "secret" {
		t.Fatalf("first command %q, want AUTH secret", auth)
	}
	ops := [][]byte{[]byte("op1"), []byte("op\r\n2")}
	if err := c.slotImport(7, 42, ops, time.Second); err != nil {
		t.Fatalf("slotImport: %v", err)
	}
	if cmd := <-got; strings.Join(toStrings(cmd), " ") != "SLOTIMPORT 7 42 op1 op\r\n2" {
		t.Fatalf("sent %q", cmd)
	}
	err = c.slotImport(7, 42, ops, time.Second)
	if !isReply(err) || err.Error() != "TRYAGAIN not yet" {
		t.Fatalf("error reply: %v (isReply %v)", err, isReply(err))
	}
	<-got
	if err := c.slotImport(7, 42, ops, time.Second); err == nil || isReply(err) || !strings.Contains(err.Error(), "unexpected reply") {
		t.Fatalf("integer reply: %v", err)
	}
}

func toStrings(b [][]byte) []string {
	out := make([]string, len(b))
	for i, x := range b {
		out[i] = string(x)
	}
	return out
}

func TestPace(t *testing.T) {
	m := New(Config{})
	// No limit: never waits, and forgets any debt.
	m.paceAt = time.Now().Add(time.Hour)
	if err := m.pace(context.Background(), 0); err != nil || m.paceAt.After(time.Now()) {
		t.Fatalf("rate 0: %v, paceAt %v", err, m.paceAt)
	}
	// Over the budget: waits, until the context ends.
	m.paceAt = time.Now().Add(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.pace(ctx, 1000); !errors.Is(err, context.Canceled) {
		t.Fatalf("pace past its budget with a cancelled context: %v", err)
	}
	// Within the budget: at once.
	m.paceAt = time.Time{}
	if err := m.pace(context.Background(), 1000); err != nil {
		t.Fatal(err)
	}
}
