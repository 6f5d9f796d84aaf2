package server

import (
	"fmt"
	"math"
	"strconv"

	"github.com/insightgrid/insight/grid/store"
)

// scanAggCommands is SCANAGG: SCAN over this instance's hashes that answers, instead of
// their names, per-group partial aggregates of some of their fields, so a GROUP BY of the
// SQL endpoint reads a few groups from each primary instead of every row.
//
//	SCANAGG cursor [MATCH pattern] [COUNT count] [GROUPBY n field ...]
//	        [NUMBERS n field intdigits scale SIGNED|UNSIGNED ...]
//
// The hashes are those a SCAN cursor MATCH pattern COUNT count TYPE hash of this call
// returns (the same cursor: whole slots per call). A hash's group is the values of the
// GROUPBY fields as stored (an absent field is a null, apart from every value). A NUMBERS
// field holds a number when its value is in the canonical form -?[0-9]+(\.[0-9]+)? with at
// most intdigits integer digits past leading zeros and at most scale decimals (no minus
// sign when UNSIGNED); its value is then counted in units of 10^-scale. A hash with a
// NUMBERS field present in any other form is not aggregated: its name is returned as
// deferred, for the caller to read and judge itself (a caller's types may read "+5",
// "1e3" or "true" as numbers or not, and report them as it does). A sum that would leave
// the 64-bit range defers its hash too.
//
// The reply is [next-cursor, groups, deferred]: groups is an array of [[value|nil ...],
// hashes, [[count, sum, min|nil, max|nil] per NUMBERS field]], counts as integers and sum,
// min and max as integers in units of 10^-scale (bulk strings); deferred is an array of
// hash names.
func scanAggCommands() []*command {
	return []*command{
		def("scanagg", -2, ro, noKeys, "keyspace", "insight", "Iterates over the hashes of this instance and returns per-group counts, sums, minimums and maximums of fields.", cmdScanAgg),
	}
}

// aggNumber is a NUMBERS field's parse rule.
type aggNumber struct {
	field     []byte
	intDigits int
	scale     int
	unsigned  bool
}

// aggPartial is the aggregate of one NUMBERS field over a group's hashes.
type aggPartial struct {
	count, sum, min, max int64
}

// aggGroup is one group's aggregates.
type aggGroup struct {
	vals [][]byte
	rows int64
	nums []aggPartial
}

// maxAggDigits is the most digits a NUMBERS value may have, intdigits+scale: any such
// value fits an int64 in units of 10^-scale.
const maxAggDigits = 18

func cmdScanAgg(c *conn, args [][]byte) {
	cursor, ok := c.parseScanCursor(args[1])
	if !ok {
		return
	}
	o := store.ScanOptions{Kind: store.KindHash}
	var groupBy [][]byte
	var nums []aggNumber
	for i := 2; i < len(args); {
		opt := args[i]
		switch {
		case eqFold(opt, "match") && i+1 < len(args):
			o.Match = args[i+1]
			if len(o.Match) == 1 && o.Match[0] == '*' {
				o.Match = nil
			}
			i += 2
		case eqFold(opt, "count") && i+1 < len(args):
			n, ok := c.scanCount(args[i+1])
			if !ok {
				return
			}
			o.Count = n
			i += 2
		case eqFold(opt, "groupby") && i+1 < len(args):
			n, ok := parseInt(args[i+1])
			if !ok || n < 0 || int64(len(args)-i-2) < n {
				c.wr.Error(fmt.Sprintf("ERR SCANAGG GROUPBY: the field count %q is not a number of fields that follow", args[i+1]))
				return
			}
			groupBy = args[i+2 : i+2+int(n)]
			i += 2 + int(n)
		case eqFold(opt, "numbers") && i+1 < len(args):
			n, ok := parseInt(args[i+1])
			if !ok || n < 0 || int64(len(args)-i-2) < 4*n {
				c.wr.Error(fmt.Sprintf("ERR SCANAGG NUMBERS: the field count %q is not a number of field, intdigits, scale, SIGNED|UNSIGNED quadruples that follow", args[i+1]))
				return
			}
			for j := range int(n) {
				num, err := parseAggNumber(args[i+2+4*j : i+6+4*j])
				if err != "" {
					c.wr.Error(err)
					return
				}
				nums = append(nums, num)
			}
			i += 2 + 4*int(n)
		default:
			c.wr.Error(errSyntax)
			return
		}
	}
	next, keys := c.s.store.Scan(cursor, o)
	fields := make([][]byte, 0, len(groupBy)+len(nums))
	fields = append(fields, groupBy...)
	for _, n := range nums {
		fields = append(fields, n.field)
	}
	groups := map[string]*aggGroup{}
	var order []*aggGroup
	var deferred [][]byte
	var gk []byte
	for _, k := range keys {
		vals, err := c.s.store.HMGet(k, fields)
		if err != nil || (allNilBytes(vals) && c.s.store.Type(k) != store.KindHash) {
			continue // no longer a hash: it was deleted or replaced since the scan
		}
		parsed, ok := parseAggValues(nums, vals[len(groupBy):])
		if !ok {
			deferred = append(deferred, k)
			continue
		}
		gk = aggGroupKey(gk[:0], vals[:len(groupBy)])
		g := groups[string(gk)]
		if g == nil {
			g = &aggGroup{vals: vals[:len(groupBy)], nums: make([]aggPartial, len(nums))}
			groups[string(gk)] = g
			order = append(order, g)
		}
		if !g.add(parsed, vals[len(groupBy):]) {
			deferred = append(deferred, k)
		}
	}
	c.wr.Array(3)
	c.wr.BulkString(strconv.FormatUint(next, 10))
	c.wr.Array(len(order))
	for _, g := range order {
		c.wr.Array(3)
		c.wr.Array(len(g.vals))
		for _, v := range g.vals {
			if v == nil {
				c.wr.Null()
			} else {
				c.wr.Bulk(v)
			}
		}
		c.wr.Int(g.rows)
		c.wr.Array(len(g.nums))
		for _, p := range g.nums {
			c.wr.Array(4)
			c.wr.Int(p.count)
			c.wr.BulkString(strconv.FormatInt(p.sum, 10))
			if p.count == 0 {
				c.wr.Null()
				c.wr.Null()
				continue
			}
			c.wr.BulkString(strconv.FormatInt(p.min, 10))
			c.wr.BulkString(strconv.FormatInt(p.max, 10))
		}
	}
	c.wr.Array(len(deferred))
	for _, k := range deferred {
		c.wr.Bulk(k)
	}
}

// parseAggNumber is one NUMBERS quadruple: field intdigits scale SIGNED|UNSIGNED.
func parseAggNumber(q [][]byte) (aggNumber, string) {
	intDigits, ok1 := parseInt(q[1])
	scale, ok2 := parseInt(q[2])
	if !ok1 || !ok2 || intDigits < 0 || scale < 0 || intDigits+scale > maxAggDigits || intDigits+scale == 0 {
		return aggNumber{}, fmt.Sprintf("ERR SCANAGG NUMBERS %s: intdigits %q and scale %q must be integers from 0 whose sum is 1 to %d", q[0], q[1], q[2], maxAggDigits)
	}
	n := aggNumber{field: q[0], intDigits: int(intDigits), scale: int(scale)}
	switch {
	case eqFold(q[3], "signed"):
	case eqFold(q[3], "unsigned"):
		n.unsigned = true
	default:
		return aggNumber{}, fmt.Sprintf("ERR SCANAGG NUMBERS %s: %q is not SIGNED or UNSIGNED", q[0], q[3])
	}
	return n, ""
}

// parseAggValues is the NUMBERS fields' values in units of 10^-scale (absent: 0, left
// out by add); ok is false when one is present but not canonical for its rule.
func parseAggValues(nums []aggNumber, vals [][]byte) ([]int64, bool) {
	out := make([]int64, len(nums))
	for i, n := range nums {
		if vals[i] == nil {
			continue
		}
		v, ok := n.parse(vals[i])
		if !ok {
			return nil, false
		}
		out[i] = v
	}
	return out, true
}

// parse is s in units of 10^-scale when it is canonical for n.
func (n aggNumber) parse(s []byte) (int64, bool) {
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		if n.unsigned {
			return 0, false
		}
		s = s[1:]
	}
	intPart, frac := s, []byte(nil)
	dot := false
	for i, ch := range s {
		if ch == '.' {
			intPart, frac, dot = s[:i], s[i+1:], true
			break
		}
	}
	if len(intPart) == 0 || (dot && len(frac) == 0) || len(frac) > n.scale {
		return 0, false
	}
	var m int64
	significant := 0
	for _, ch := range intPart {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		if ch != '0' || significant > 0 {
			significant++
		}
		m = m*10 + int64(ch-'0')
		if significant > n.intDigits {
			return 0, false
		}
	}
	for _, ch := range frac {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		m = m*10 + int64(ch-'0')
	}
	for range n.scale - len(frac) {
		m *= 10
	}
	if neg {
		m = -m
	}
	return m, true
}

// add counts a hash of the group with its NUMBERS values (vals: as stored, nil when
// absent); false, and nothing counted, when a sum would leave the 64-bit range.
func (g *aggGroup) add(parsed []int64, vals [][]byte) bool {
	for i, v := range parsed {
		if vals[i] != nil {
			if _, ok := addInt64(g.nums[i].sum, v); !ok {
				return false
			}
		}
	}
	g.rows++
	for i, v := range parsed {
		if vals[i] == nil {
			continue
		}
		p := &g.nums[i]
		p.sum += v
		if p.count == 0 || v < p.min {
			p.min = v
		}
		if p.count == 0 || v > p.max {
			p.max = v
		}
		p.count++
	}
	return true
}

// addInt64 is a+b, ok false when it overflows.
func addInt64(a, b int64) (int64, bool) {
	s := a + b
	if (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b) {
		return 0, false
	}
	return s, true
}

// aggGroupKey appends a group's values to dst as a map key: each value as its length
// (-1: null) and bytes, so distinct value lists never share a key.
func aggGroupKey(dst []byte, vals [][]byte) []byte {
	for _, v := range vals {
		if v == nil {
			dst = strconv.AppendInt(dst, -1, 10)
			dst = append(dst, ':')
			continue
		}
		dst = strconv.AppendInt(dst, int64(len(v)), 10)
		dst = append(dst, ':')
		dst = append(dst, v...)
	}
	return dst
}

func allNilBytes(vals [][]byte) bool {
	for _, v := range vals {
		if v != nil {
			return false
		}
	}
	return true
}
