package server

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// checkValue compares the whole value at key, whatever its type, and its expiry.
func (d *diffRun) checkValue(key string) {
	d.t.Helper()
	kind, _ := d.check(exact, "TYPE", key)
	switch kind {
	case "string":
		d.check(exact, "GET", key)
	case "hash":
		d.check(multiset, "HGETALL", key)
	case "set":
		d.check(multiset, "SMEMBERS", key)
	case "list":
		d.check(exact, "LRANGE", key, "0", "-1")
	case "zset":
		d.check(exact, "ZRANGE", key, "0", "-1", "WITHSCORES")
	}
	d.check(exact, "PEXPIRETIME", key)
}

func TestKeysAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	rng := rand.New(rand.NewPCG(11, 12))
	keys := []string{"{k}a", "{k}b", "{k}c", "{k}d"}
	key := func() string { return keys[rng.IntN(len(keys))] }
	// Far-future absolute times, so both sides hold the same expiry.
	at := func() string { return strconv.Itoa(4102444800 + rng.IntN(1000)) }
	steps := 2000
	if testing.Short() {
		steps = 800
	}
	for range steps {
		k, k2 := key(), key()
		switch rng.IntN(16) {
		case 0:
			d.check(exact, "SET", k, strValue(rng))
		case 1:
			d.check(exact, "HSET", k, hashField(rng), hashField(rng), hashField(rng), hashField(rng))
		case 2:
			d.check(exact, "SADD", k, setMember(rng), setMember(rng), setMember(rng))
		case 3:
			d.check(exact, "RPUSH", k, listElem(rng), listElem(rng))
		case 4, 5:
			d.check(exact, "RENAME", k, k2)
			d.checkValue(k)
			d.checkValue(k2)
		case 6:
			d.check(exact, "RENAMENX", k, k2)
			d.checkValue(k)
			d.checkValue(k2)
		case 7, 8:
			args := []string{"COPY", k, k2}
			if rng.IntN(2) == 0 {
				args = append(args, "REPLACE")
			}
			if rng.IntN(4) == 0 {
				args = append(args, "DB", "0")
			}
			d.check(exact, args...)
			d.checkValue(k)
			d.checkValue(k2)
		case 9:
			d.check(exact, "EXPIREAT", k, at())
			d.check(exact, "EXPIRETIME", k)
		case 10:
			d.check(exact, "PEXPIREAT", k, at()+"123")
			d.check(exact, "PEXPIRETIME", k)
		case 11:
			d.check(exact, "PERSIST", k)
		case 12:
			d.check(exact, "TOUCH", k, k2, "{k}none")
		case 13:
			d.check(shape, "RANDOMKEY")
		case 14:
			if rng.IntN(3) == 0 {
				d.check(exact, "DEL", k)
			}
			d.check(exact, "EXISTS", k)
		default:
			d.check(exact, diffKeyErrors[rng.IntN(len(diffKeyErrors))]...)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	for _, k := range keys {
		d.checkValue(k)
	}
	d.check(exact, "FLUSHALL")
	d.check(exact, "RANDOMKEY")
	d.check(exact, "SET", "{k}only", "1")
	d.check(exact, "RANDOMKEY")
	t.Logf("%d commands compared", d.n)
}

// diffKeyErrors are the key commands' error and edge cases.
var diffKeyErrors = [][]string{
	{"RENAME", "{k}none", "{k}a"},
	{"RENAME", "{k}none", "{k}none"},
	{"RENAME", "{k}a", "{k}a"},
	{"RENAME", "{k}a", "{j}a"},
	{"RENAME", "{k}a"},
	{"RENAMENX", "{k}none", "{k}a"},
	{"RENAMENX", "{k}a", "{k}a"},
	{"RENAMENX", "{k}a", "{j}a"},
	{"COPY", "{k}a", "{k}a"},
	{"COPY", "{k}none", "{k}none"},
	{"COPY", "{k}none", "{k}a"},
	{"COPY", "{k}a", "{j}a"},
	{"COPY", "{k}a", "{k}b", "DB", "1"},
	{"COPY", "{k}a", "{k}a", "DB", "1"},
	{"COPY", "{k}a", "{k}b", "DB", "x"},
	{"COPY", "{k}a", "{k}b", "DB", "-1"},
	{"COPY", "{k}a", "{k}b", "DB", "16"},
	{"COPY", "{k}a", "{k}b", "DB", "4294967296"},
	{"COPY", "{k}a", "{k}b", "DB"},
	{"COPY", "{k}a", "{k}b", "FOO"},
	{"COPY", "{k}a", "{k}b", "REPLACE", "REPLACE"},
	{"COPY", "{k}a"},
	{"TOUCH"},
	{"TOUCH", "{k}a", "{j}a"},
	{"EXPIRETIME", "{k}none"},
	{"PEXPIRETIME", "{k}none"},
	{"EXPIRETIME", "{k}a", "x"},
	{"RANDOMKEY", "x"},
}

// newCommands are the commands whose key specs are written down (and compared).
var newCommands = map[string]bool{}

func init() {
	for _, name := range strings.Fields("getex getdel getset msetnx setrange getrange substr lcs hsetnx hkeys " +
		"hvals hstrlen hincrbyfloat hrandfield hscan rename renamenx copy touch expiretime pexpiretime randomkey") {
		newCommands[name] = true
	}
}

// TestCommandInfoAgainstRedisServer compares what cluster clients route by (arity, flags,
// first key, last key, step) for the string, hash and key commands, and the key specs of
// those that have them written down.
func TestCommandInfoAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	for _, name := range strings.Fields("get set setnx setex psetex getex getdel getset mget mset msetnx " +
		"setrange getrange substr lcs incrbyfloat append strlen hsetnx hkeys hvals hstrlen hincrbyfloat " +
		"hrandfield hscan rename renamenx copy touch expiretime pexpiretime randomkey expireat pexpireat") {
		want, werr := do(d.redis, []string{"COMMAND", "INFO", name})
		got, gerr := do(d.grid, []string{"COMMAND", "INFO", name})
		if werr != nil || gerr != nil {
			t.Fatalf("COMMAND INFO %s: %v %v", name, werr, gerr)
		}
		w, g := want.([]any)[0].([]any), got.([]any)[0].([]any)
		if fmt.Sprint(w[:2], w[3:6]) != fmt.Sprint(g[:2], g[3:6]) || fmt.Sprint(sorted(w[2])) != fmt.Sprint(sorted(g[2])) {
			t.Errorf("COMMAND INFO %s:\nredis: %v\n grid: %v", name, w[:6], g[:6])
		}
		if newCommands[name] && fmt.Sprint(w[8]) != fmt.Sprint(g[8]) {
			t.Errorf("COMMAND INFO %s key specs:\nredis: %v\n grid: %v", name, w[8], g[8])
		}
	}
}
