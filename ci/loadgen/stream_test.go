package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestFillBuildsOneSortedSetAndOneStream(t *testing.T) {
	addr := redisServer(t)
	ctx := context.Background()
	for _, kind := range []string{"zset", "stream"} {
		res, err := fill(ctx, fillConfig{addr: addr, keys: 1234, kind: kind, valueSize: 1, fields: 1, clients: 3, pipeline: 100, prefix: kind, timeout: 5 * time.Second})
		if err != nil || res.Written != 1234 || res.Errors != 0 {
			t.Fatalf("fill %s: %+v, %v", kind, res, err)
		}
	}
	c, err := dialRESP(addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for cmd, want := range map[string]string{
		"DBSIZE": "2", "ZCARD zset": "1234", "ZSCORE zset m:1233": "1233", "ZSCORE zset m:1234": "",
		"ZRANK zset m:0": "0", "XLEN stream": "1234",
	} {
		got, err := c.do(strings.Fields(cmd)...)
		if err != nil || string(got) != want {
			t.Errorf("%s = %q (%v), want %q", cmd, got, err, want)
		}
	}
	// Every entry has the two fields, f1 its index and f2 the index mod 1000.
	v, err := valueOf(c, "XREVRANGE", "stream", "+", "-", "COUNT", "1")
	if err != nil {
		t.Fatal(err)
	}
	last := v.([]any)[0].([]any)[1].([]any)
	if len(last) != 4 || string(last[0].([]byte)) != "f1" || string(last[2].([]byte)) != "f2" {
		t.Fatalf("last entry's fields = %q", last)
	}
}

func TestStreamLoadConsumesWhatItProduces(t *testing.T) {
	addr := redisServer(t)
	res, err := streamLoad(context.Background(), streamConfig{addr: addr, key: "s", group: "g", producers: 3, consumers: 2,
		count: 10, valueSize: 20, duration: 300 * time.Millisecond, timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Produced == 0 || res.Consumed == 0 || res.Errors != 0 {
		t.Fatalf("nothing produced or consumed, or errors: %+v", res)
	}
	// Every XADD acknowledged is in the stream; every entry read was acknowledged once.
	if res.StreamLen != res.Produced || res.Acked != res.Consumed || res.PendingLeft != 0 || res.Backlog != res.Produced-res.Consumed {
		t.Errorf("counts disagree: %+v", res)
	}
	if res.XAddP99Ms <= 0 || res.XAddMaxMs < res.XAddP99Ms || res.ProducedPS <= 0 {
		t.Errorf("latencies or rates missing: %+v", res)
	}
}

func TestStreamLoadCountsErrorRepliesWithoutStopping(t *testing.T) {
	// Past maxmemory, redis-server refuses XADD with -OOM: the producers count the replies
	// and run to the end; nothing is consumed.
	addr := redisServer(t, "--maxmemory", "1mb")
	res, err := streamLoad(context.Background(), streamConfig{addr: addr, key: "s", group: "g", producers: 2, consumers: 1,
		count: 10, valueSize: 200000, duration: 300 * time.Millisecond, timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors == 0 || !strings.HasPrefix(res.FirstError, "OOM") || res.StreamLen != res.Produced {
		t.Errorf("want -OOM replies counted: %+v", res)
	}
}

func TestStreamIDsRejectsOtherShapes(t *testing.T) {
	ok := []any{[]any{[]byte("s"), []any{[]any{[]byte("1-1"), []any{}}, []any{[]byte("1-2"), []any{}}}}}
	ids, err := streamIDs(ok)
	if err != nil || len(ids) != 2 || string(ids[1]) != "1-2" {
		t.Fatalf("streamIDs = %q, %v", ids, err)
	}
	if ids, err := streamIDs(nil); err != nil || ids != nil {
		t.Errorf("streamIDs(nil) = %q, %v", ids, err)
	}
	for _, bad := range []any{int64(1), []any{}, []any{[]any{[]byte("s")}}, []any{[]any{[]byte("s"), int64(2)}},
		[]any{[]any{[]byte("s"), []any{[]any{int64(1), []any{}}}}}} {
		if _, err := streamIDs(bad); err == nil {
			t.Errorf("streamIDs(%v): no error", bad)
		}
	}
}

// valueOf sends one command and reads its whole reply.
func valueOf(c *respConn, args ...string) (any, error) {
	bs := make([][]byte, len(args))
	for i, a := range args {
		bs[i] = []byte(a)
	}
	c.appendCmd(bs...)
	if err := c.flush(); err != nil {
		return nil, err
	}
	return c.readValue()
}
