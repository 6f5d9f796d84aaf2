package server

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/store"
)

// scanAggResult is SCANAGG's reply merged over a whole iteration: per group (its values
// joined, "<nil>" for a null), the hashes and each NUMBERS field's [count sum min max].
type scanAggResult struct {
	rows     map[string]int64
	nums     map[string][][4]string
	deferred []string
}

// scanAggAll runs SCANAGG from cursor 0 until it returns 0, with args after the cursor.
func scanAggAll(t *testing.T, c *redis.Client, args ...any) scanAggResult {
	t.Helper()
	ctx := context.Background()
	out := scanAggResult{rows: map[string]int64{}, nums: map[string][][4]string{}}
	cursor := "0"
	for calls := 0; ; calls++ {
		if calls > 20000 {
			t.Fatal("SCANAGG did not return cursor 0")
		}
		v, err := c.Do(ctx, append([]any{"SCANAGG", cursor}, args...)...).Slice()
		if err != nil {
			t.Fatalf("SCANAGG %s %v: %v", cursor, args, err)
		}
		cursor = v[0].(string)
		for _, g := range v[1].([]any) {
			g := g.([]any)
			var vals []string
			for _, x := range g[0].([]any) {
				if x == nil {
					vals = append(vals, "<nil>")
				} else {
					vals = append(vals, x.(string))
				}
			}
			key := strings.Join(vals, "|")
			out.rows[key] += g[1].(int64)
			for i, p := range g[2].([]any) {
				p := p.([]any)
				if len(out.nums[key]) <= i {
					out.nums[key] = append(out.nums[key], [4]string{"0", "0", "<nil>", "<nil>"})
				}
				out.nums[key][i] = mergePartial(t, out.nums[key][i], p)
			}
		}
		for _, k := range v[2].([]any) {
			out.deferred = append(out.deferred, k.(string))
		}
		if cursor == "0" {
			slices.Sort(out.deferred)
			return out
		}
	}
}

// mergePartial adds SCANAGG's [count sum min max] p to the merged q.
func mergePartial(t *testing.T, q [4]string, p []any) [4]string {
	t.Helper()
	num := func(s string) int64 {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("SCANAGG answered %q for a number", s)
		}
		return n
	}
	count := p[0].(int64)
	q[0] = strconv.FormatInt(num(q[0])+count, 10)
	q[1] = strconv.FormatInt(num(q[1])+num(p[1].(string)), 10)
	if count == 0 {
		if p[2] != nil || p[3] != nil {
			t.Fatalf("SCANAGG answered a minimum or maximum of no values: %v", p)
		}
		return q
	}
	if q[2] == "<nil>" || num(p[2].(string)) < num(q[2]) {
		q[2] = p[2].(string)
	}
	if q[3] == "<nil>" || num(p[3].(string)) > num(q[3]) {
		q[3] = p[3].(string)
	}
	return q
}

// startScanAgg serves a store holding hashes (name: field, value, ...) and returns a
// client of it. The hashes go into the store directly: SCANAGG reads every key of its
// instance, whichever slots its partition serves.
func startScanAgg(t *testing.T, hashes map[string][]string) (*redis.Client, *store.Store) {
	t.Helper()
	st := store.New(1 << 20)
	for k, fv := range hashes {
		args := make([][]byte, len(fv))
		for i, x := range fv {
			args[i] = []byte(x)
		}
		if _, err := st.HSet([]byte(k), args); err != nil {
			t.Fatal(err)
		}
	}
	_, dial := startServerOn(t, Config{Replication: Standalone{}}, st)
	c := redis.NewClient(&redis.Options{Addr: dial().nc.RemoteAddr().String(), Protocol: 2, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	return c, st
}

func TestScanAggGroupsAndCountsCanonicalNumbers(t *testing.T) {
	hashes := map[string][]string{
		"t:1":  {"cat", "a", "price", "12.5", "qty", "7"},
		"t:2":  {"cat", "a", "price", "-0.01", "qty", "007"},
		"t:3":  {"cat", "a", "qty", "3"},                     // price absent: not counted
		"t:4":  {"cat", "", "price", "999.99", "qty", "-99"}, // "" is a group of its own
		"t:5":  {"price", "0", "qty", "0"},                   // cat absent: the null group
		"t:6":  {"cat", "a", "price", "1e3"},                 // not canonical: deferred
		"t:7":  {"cat", "a", "price", "+5"},                  // sign: deferred
		"t:8":  {"cat", "b", "price", ".5"},                  // no integer digit: deferred
		"t:9":  {"cat", "b", "price", "5."},                  // dot without decimals: deferred
		"t:10": {"cat", "b", "price", "1.234"},               // past the scale: deferred
		"t:11": {"cat", "b", "price", "1000.00"},             // past intdigits: deferred
		"t:12": {"cat", "b", "price", "0001.00"},             // leading zeros are not digits counted
		"t:13": {"cat", "b", "qty", "true"},                  // deferred, whatever its price
		"t:14": {"cat", "b", "price", "2", "qty", "100"},     // qty past 2 digits: deferred
		// Not matching: never read.
		"other:1": {"cat", "a", "price", "1"},
		// UNSIGNED defers negative values, "-0" too.
		"u:1": {"n", "-0"},
		"u:2": {"n", "5"},
	}
	c, st := startScanAgg(t, hashes)
	// Not a hash: never read.
	if _, err := st.Set(nil, []byte("t:string"), []byte("x"), store.SetOptions{}); err != nil {
		t.Fatal(err)
	}

	got := scanAggAll(t, c, "MATCH", "t:*", "COUNT", "3", "GROUPBY", "1", "cat", "NUMBERS", "2", "price", "3", "2", "SIGNED", "qty", "2", "0", "SIGNED")
	wantRows := map[string]int64{"a": 3, "": 1, "<nil>": 1, "b": 1}
	wantNums := map[string][][4]string{
		"a":     {{"2", "1249", "-1", "1250"}, {"3", "17", "3", "7"}},
		"":      {{"1", "99999", "99999", "99999"}, {"1", "-99", "-99", "-99"}},
		"<nil>": {{"1", "0", "0", "0"}, {"1", "0", "0", "0"}},
		"b":     {{"1", "100", "100", "100"}, {"0", "0", "<nil>", "<nil>"}},
	}
	wantDeferred := []string{"t:10", "t:11", "t:13", "t:14", "t:6", "t:7", "t:8", "t:9"}
	if fmt.Sprint(got.rows) != fmt.Sprint(wantRows) {
		t.Errorf("hashes per group: got %v, want %v", got.rows, wantRows)
	}
	if fmt.Sprint(got.nums) != fmt.Sprint(wantNums) {
		t.Errorf("numbers per group: got %v, want %v", got.nums, wantNums)
	}
	if !slices.Equal(got.deferred, wantDeferred) {
		t.Errorf("deferred: got %v, want %v", got.deferred, wantDeferred)
	}

	got = scanAggAll(t, c, "MATCH", "u:*", "NUMBERS", "1", "n", "18", "0", "unsigned")
	if got.rows[""] != 1 || !slices.Equal(got.deferred, []string{"u:1"}) || got.nums[""][0] != [4]string{"1", "5", "5", "5"} {
		t.Errorf("UNSIGNED: got %+v, want one hash of n=5 and u:1 deferred", got)
	}

	// No GROUPBY, no NUMBERS: the hashes matching, in one group.
	got = scanAggAll(t, c, "MATCH", "t:*")
	if fmt.Sprint(got.rows) != "map[:14]" || len(got.deferred) != 0 {
		t.Errorf("counting hashes: got %+v, want 14 in one group", got)
	}
}

func TestScanAggDefersASumLeavingTheRange(t *testing.T) {
	hashes := map[string][]string{}
	// Keys of one slot, so one call reads them together.
	for i := range 20 {
		hashes[fmt.Sprintf("{s}:%d", i)] = []string{"n", "999999999999999999"}
	}
	c, _ := startScanAgg(t, hashes)
	got := scanAggAll(t, c, "MATCH", "{s}:*", "NUMBERS", "1", "n", "18", "0", "SIGNED")
	if got.rows[""] != 9 || len(got.deferred) != 11 {
		t.Fatalf("got %d hashes aggregated and %d deferred, want 9 (the most whose sum fits 64 bits) and 11", got.rows[""], len(got.deferred))
	}
	if got.nums[""][0] != [4]string{"9", "8999999999999999991", "999999999999999999", "999999999999999999"} {
		t.Fatalf("got %v", got.nums[""][0])
	}
}

func TestScanAggRejectsBadArguments(t *testing.T) {
	_, dial := startServer(t, Config{Replication: Standalone{}})
	c := dial()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"SCANAGG"}, "-ERR wrong number of arguments for 'scanagg' command\r\n"},
		{[]string{"SCANAGG", "x"}, "-ERR invalid cursor\r\n"},
		{[]string{"SCANAGG", "0", "COUNT", "0"}, "-ERR syntax error\r\n"},
		{[]string{"SCANAGG", "0", "COUNT", "x"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"SCANAGG", "0", "TYPE", "hash"}, "-ERR syntax error\r\n"},
		{[]string{"SCANAGG", "0", "MATCH"}, "-ERR syntax error\r\n"},
		{[]string{"SCANAGG", "0", "GROUPBY", "2", "a"}, "-ERR SCANAGG GROUPBY: the field count \"2\" is not a number of fields that follow\r\n"},
		{[]string{"SCANAGG", "0", "GROUPBY", "-1"}, "-ERR SCANAGG GROUPBY: the field count \"-1\" is not a number of fields that follow\r\n"},
		{[]string{"SCANAGG", "0", "NUMBERS", "1", "n", "2", "0"}, "-ERR SCANAGG NUMBERS: the field count \"1\" is not a number of field, intdigits, scale, SIGNED|UNSIGNED quadruples that follow\r\n"},
		{[]string{"SCANAGG", "0", "NUMBERS", "1", "n", "10", "9", "SIGNED"}, "-ERR SCANAGG NUMBERS n: intdigits \"10\" and scale \"9\" must be integers from 0 whose sum is 1 to 18\r\n"},
		{[]string{"SCANAGG", "0", "NUMBERS", "1", "n", "0", "0", "SIGNED"}, "-ERR SCANAGG NUMBERS n: intdigits \"0\" and scale \"0\" must be integers from 0 whose sum is 1 to 18\r\n"},
		{[]string{"SCANAGG", "0", "NUMBERS", "1", "n", "x", "0", "SIGNED"}, "-ERR SCANAGG NUMBERS n: intdigits \"x\" and scale \"0\" must be integers from 0 whose sum is 1 to 18\r\n"},
		{[]string{"SCANAGG", "0", "NUMBERS", "1", "n", "2", "0", "SIGN"}, "-ERR SCANAGG NUMBERS n: \"SIGN\" is not SIGNED or UNSIGNED\r\n"},
	} {
		c.expect(encodeCmd(tc.args...), tc.want)
	}
	// An empty keyspace: cursor 0, no groups, nothing deferred.
	c.expect(encodeCmd("SCANAGG", "0", "GROUPBY", "1", "cat"), "*3\r\n$1\r\n0\r\n*0\r\n*0\r\n")
}
