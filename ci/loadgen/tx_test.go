package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseTxRefusesBadFlagsByName(t *testing.T) {
	cfg, err := parseTx([]string{"--pipeline", "4", "--clients", "7"}, io.Discard)
	if err != nil || cfg.pipeline != 4 || cfg.clients != 7 || cfg.valueSize != 100 || cfg.duration != 10*time.Second {
		t.Fatalf("cfg %+v, err %v", cfg, err)
	}
	for flag, bad := range map[string][]string{
		"--clients 0":     {"--clients", "0"},
		"--pipeline 0":    {"--pipeline", "0"},
		"--value-size 0":  {"--value-size", "0"},
		"--duration 0s":   {"--duration", "0s"},
		"--timeout -1s":   {"--timeout", "-1s"},
		"unexpected argu": {"extra"},
	} {
		_, err := parseTx(bad, io.Discard)
		if err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("%s: error %v, want one naming %q", strings.Join(bad, " "), err, flag)
		}
	}
}

func TestCheckTxCountsOnlyAWholeTransaction(t *testing.T) {
	value := []byte("vvv")
	ok := func(s string) []byte { return []byte(s) }
	queued := []any{ok("OK"), ok("QUEUED"), ok("QUEUED"), ok("QUEUED")}
	with := func(exec any) []any { return append(append([]any{}, queued...), exec) }

	n, err := checkTx(with([]any{ok("OK"), int64(8), ok("vvv")}), value, 7)
	if err != nil || n != 8 {
		t.Fatalf("a good transaction: counter %d, %v", n, err)
	}
	for name, c := range map[string]struct {
		replies []any
		counter int64 // what checkTx returns as INCR's answer
		want    string
	}{
		"EXEC null": {with(nil), 0, "null array"},
		"EXECABORT": {[]any{ok("OK"), errReply("OOM command not allowed"), ok("QUEUED"), ok("QUEUED"),
			errReply("EXECABORT Transaction discarded because of previous errors.")}, 0, "SET in MULTI answered -OOM"},
		"EXEC error":        {with(errReply("EXECABORT Transaction discarded")), 0, "EXEC answered -EXECABORT"},
		"MULTI refused":     {append(append([]any{errReply("ERR MULTI calls can not be nested")}, queued[1:]...), []any{}), 0, "MULTI answered"},
		"short EXEC":        {with([]any{ok("OK"), int64(8)}), 0, "array of 3"},
		"SET failed":        {with([]any{errReply("OOM x"), int64(8), ok("vvv")}), 8, "SET in EXEC answered -OOM"},
		"INCR failed":       {with([]any{ok("OK"), errReply("ERR value is not an integer"), ok("vvv")}), 0, "INCR in EXEC answered -ERR"},
		"counter skipped":   {with([]any{ok("OK"), int64(9), ok("vvv")}), 9, "answered 9, want 8"},
		"wrong value":       {with([]any{ok("OK"), int64(8), ok("vv")}), 8, "GET in EXEC answered"},
		"null value":        {with([]any{ok("OK"), int64(8), nil}), 8, "GET in EXEC answered null"},
		"too few replies":   {queued, 0, "4 replies"},
		"QUEUED as integer": {[]any{ok("OK"), int64(1), ok("QUEUED"), ok("QUEUED"), []any{}}, 0, "SET in MULTI answered 1"},
	} {
		n, err := checkTx(c.replies, value, 7)
		if err == nil || !strings.Contains(err.Error(), c.want) || n != c.counter {
			t.Errorf("%s: counter %d, error %v; want %d and an error with %q", name, n, err, c.counter, c.want)
		}
	}
}

func TestTxLoadRunsTransactionsAgainstRedis(t *testing.T) {
	addr := redisServer(t)
	res, err := txLoad(context.Background(), txConfig{addr: addr, clients: 3, pipeline: 2, valueSize: 50, prefix: "t",
		duration: 300 * time.Millisecond, timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Transactions == 0 || res.Errors != 0 || res.P99Ms <= 0 || res.TxPerSec <= 0 {
		t.Fatalf("want transactions and no errors: %+v", res)
	}
	// Each connection's counter went up once per transaction: their sum is the total.
	c, err := dialRESP(addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	keys, err := valueOf(c, "KEYS", "*:c")
	if err != nil || len(keys.([]any)) != 3 {
		t.Fatalf("counters %v, %v", keys, err)
	}
	var sum int64
	for _, k := range keys.([]any) {
		n, err := intReply(c, "GET", string(k.([]byte)))
		if err != nil {
			t.Fatal(err)
		}
		sum += n
	}
	if sum != res.Transactions {
		t.Errorf("counters sum to %d, the run counted %d transactions", sum, res.Transactions)
	}
}

func TestTxLoadCountsExecAbortAsAnError(t *testing.T) {
	// Past maxmemory, redis-server refuses SET and INCR while queueing (-OOM), and EXEC
	// answers EXECABORT: no transaction is done, every one is an error.
	addr := redisServer(t, "--maxmemory", "1")
	res, err := txLoad(context.Background(), txConfig{addr: addr, clients: 2, pipeline: 1, valueSize: 10, prefix: "t",
		duration: 200 * time.Millisecond, timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Transactions != 0 || res.Errors == 0 || !strings.Contains(res.FirstError, "-OOM") {
		t.Fatalf("want only errors, the first an -OOM while queueing: %+v", res)
	}
}

func TestTxAndFanoutSubcommandsRefuseBadFlags(t *testing.T) {
	for _, bad := range [][]string{{"tx", "--pipeline", "0"}, {"fanout", "--subscribers", "0"}} {
		var stderr strings.Builder
		if code := run(bad, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), "loadgen "+bad[0]+": "+bad[1]+" 0") {
			t.Errorf("loadgen %s: exit %d, stderr %q; want 2 and the flag named", strings.Join(bad, " "), code, stderr.String())
		}
	}
}
