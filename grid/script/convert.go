package script

import (
	"bytes"
	"fmt"
	"math"
	"strconv"

	lua "github.com/yuin/gopher-lua"

	"github.com/insightgrid/insight/grid/resp"
)

// The conversions between RESP and Lua are Redis 7.0's (script_lua.c).
//
// RESP2 to Lua (a redis.call reply): integer → number; bulk string → string; null bulk
// string and null array → false; array → table (nested); status → {ok=...}; error →
// {err=...}, which redis.call raises and redis.pcall returns.
//
// Lua to RESP (the script's reply): number → integer, truncated toward zero; string →
// bulk string; true → 1; false and nil → null; a table with a string err field → error,
// with a string ok field → status, with a number double field → double, with a table map
// or set field → map or set; any other table → array of its elements 1, 2, ... up to the
// first nil.

// maxDepth is how deep a reply may nest, Lua's C stack limit in Redis.
const maxDepth = 8000

// parseReply converts the RESP2 reply at the start of b and returns the rest of b; isErr
// when the reply is an error (val is then the error table).
func parseReply(L *lua.LState, b []byte) (val lua.LValue, rest []byte, isErr bool) {
	if len(b) < 3 {
		L.RaiseError("internal error: short reply %q", b)
	}
	end := bytes.Index(b, []byte("\r\n"))
	if end < 0 {
		L.RaiseError("internal error: unterminated reply %q", b)
	}
	line, rest := b[1:end], b[end+2:]
	switch b[0] {
	case '+':
		t := L.NewTable()
		t.RawSetString("ok", lua.LString(line))
		return t, rest, false
	case '-':
		t := errorBuffer(L, "-"+string(line))
		t.RawSetString("ignore_error_stats_update", lua.LTrue)
		return t, rest, true
	case ':':
		n, err := strconv.ParseInt(string(line), 10, 64)
		if err != nil {
			L.RaiseError("internal error: integer reply %q", line)
		}
		return lua.LNumber(n), rest, false
	case '$':
		n, err := strconv.Atoi(string(line))
		if err == nil && n < 0 {
			return lua.LFalse, rest, false
		}
		if err != nil || n > len(rest)-2 {
			L.RaiseError("internal error: bulk reply %q", line)
		}
		return lua.LString(rest[:n]), rest[n+2:], false
	case '*':
		n, err := strconv.Atoi(string(line))
		if err != nil {
			L.RaiseError("internal error: array reply %q", line)
		}
		if n < 0 {
			return lua.LFalse, rest, false
		}
		t := L.CreateTable(n, 0)
		for i := 1; i <= n; i++ {
			var el lua.LValue
			el, rest, _ = parseReply(L, rest)
			t.RawSetInt(i, el)
		}
		return t, rest, false
	}
	L.RaiseError("internal error: reply type %q", b[0])
	return nil, nil, false
}

// writeReply writes the script's return value v to w, or an error when it is larger than
// maxReply bytes or nests deeper than maxDepth.
func writeReply(w *resp.Writer, v lua.LValue, maxReply int) {
	size, err := replySize(v, 0, maxReply)
	switch {
	case err != nil:
		w.Error(err.Error())
		return
	case size > maxReply:
		w.Error(fmt.Sprintf("ERR the script's reply is larger than the limit of %d bytes", maxReply))
		return
	}
	toRESP(w, v)
}

// replySize is about the size of v's RESP encoding, counted up to limit.
func replySize(v lua.LValue, depth, limit int) (int, error) {
	if depth > maxDepth {
		return 0, fmt.Errorf("ERR reached lua stack limit")
	}
	switch x := v.(type) {
	case lua.LString:
		return len(x) + 16, nil
	case *lua.LTable:
		if s, ok := x.RawGetString("err").(lua.LString); ok {
			return len(s) + 3, nil
		}
		if s, ok := x.RawGetString("ok").(lua.LString); ok {
			return len(s) + 3, nil
		}
		total := 16
		count := func(el lua.LValue) error {
			n, err := replySize(el, depth+1, limit-total)
			total += n
			return err
		}
		if m, ok := x.RawGetString("map").(*lua.LTable); ok {
			var err error
			m.ForEach(func(k, val lua.LValue) {
				if err == nil && total <= limit {
					err = count(k)
				}
				if err == nil && total <= limit {
					err = count(val)
				}
			})
			return total, err
		}
		if s, ok := x.RawGetString("set").(*lua.LTable); ok {
			var err error
			s.ForEach(func(k, _ lua.LValue) {
				if err == nil && total <= limit {
					err = count(k)
				}
			})
			return total, err
		}
		for i := 1; total <= limit; i++ {
			el := x.RawGetInt(i)
			if el == lua.LNil {
				break
			}
			if err := count(el); err != nil {
				return total, err
			}
		}
		return total, nil
	}
	return 24, nil
}

// toRESP writes v as Redis's luaReplyToRedisReply does (the size was checked).
func toRESP(w *resp.Writer, v lua.LValue) {
	switch x := v.(type) {
	case lua.LString:
		w.BulkString(string(x))
	case lua.LBool:
		if x {
			w.Int(1)
		} else {
			w.Null()
		}
	case lua.LNumber:
		w.Int(truncate(float64(x)))
	case *lua.LTable:
		tableToRESP(w, x)
	default:
		w.Null()
	}
}

func tableToRESP(w *resp.Writer, t *lua.LTable) {
	if s, ok := t.RawGetString("err").(lua.LString); ok {
		w.Error(string(s))
		return
	}
	if s, ok := t.RawGetString("ok").(lua.LString); ok {
		w.Simple(string(bytes.Map(func(r rune) rune {
			if r == '\r' || r == '\n' {
				return ' '
			}
			return r
		}, []byte(s))))
		return
	}
	if d, ok := t.RawGetString("double").(lua.LNumber); ok {
		w.Double(float64(d))
		return
	}
	if m, ok := t.RawGetString("map").(*lua.LTable); ok {
		n := 0
		m.ForEach(func(_, _ lua.LValue) { n++ })
		w.Map(n)
		m.ForEach(func(k, val lua.LValue) {
			toRESP(w, k)
			toRESP(w, val)
		})
		return
	}
	if s, ok := t.RawGetString("set").(*lua.LTable); ok {
		n := 0
		s.ForEach(func(_, _ lua.LValue) { n++ })
		w.Set(n)
		s.ForEach(func(k, _ lua.LValue) { toRESP(w, k) })
		return
	}
	n := 0
	for t.RawGetInt(n+1) != lua.LNil {
		n++
	}
	w.Array(n)
	for i := 1; i <= n; i++ {
		toRESP(w, t.RawGetInt(i))
	}
}

// truncate is C's (long long) cast of a double on x86-64: toward zero, and the integer
// indefinite value (the smallest int64) for NaN and what does not fit.
func truncate(f float64) int64 {
	if math.IsNaN(f) || f >= math.MaxInt64 || f < math.MinInt64 {
		return math.MinInt64
	}
	return int64(f)
}
