package rdb

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"

	"github.com/insightgrid/insight/grid/store"
)

// Sorted sets, as Redis 7.0 writes them: while the set is small (a listpack in the grid,
// as in Redis), a listpack of member and score pairs, the score as Redis's d2string
// writes it (RDB_TYPE_ZSET_LISTPACK); past that, the members each followed by its score
// as a little-endian binary double, greatest first (RDB_TYPE_ZSET_2). Reading also takes
// the older encodings Redis 7.0 reads: scores as text (RDB_TYPE_ZSET) and ziplists
// (RDB_TYPE_ZSET_ZIPLIST).
const (
	typeZSet         = 3
	typeZSet2        = 5
	typeZSetZiplist  = 12
	typeZSetListpack = 17
)

// appendZSet appends the sorted set ents (ascending), in the encoding Redis 7.0 gives
// one of encoding enc.
func appendZSet(b []byte, ents []store.ZEntry, enc string) []byte {
	if enc == "listpack" {
		elems := make([][]byte, 0, 2*len(ents))
		for _, e := range ents {
			elems = append(elems, e.Member, scoreText(e.Score))
		}
		return appendString(append(b, typeZSetListpack), appendListpack(nil, elems))
	}
	b = appendLen(append(b, typeZSet2), uint64(len(ents)))
	for i := len(ents) - 1; i >= 0; i-- {
		b = appendString(b, ents[i].Member)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(ents[i].Score))
	}
	return b
}

// scoreText is a score as Redis 7.0's d2string writes it into a listpack: integral
// values below 2^52 as integers, infinities as inf and -inf, others as %.17g.
func scoreText(f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return []byte("inf")
	case math.IsInf(f, -1):
		return []byte("-inf")
	case f > -4503599627370495 && f < 4503599627370496 && f == math.Trunc(f):
		return strconv.AppendInt(nil, int64(f), 10)
	}
	return strconv.AppendFloat(nil, f, 'g', 17, 64)
}

// parseScore reads a score a listpack or ziplist holds as text (Redis's zzlStrtod);
// NaN is refused.
func parseScore(b []byte) (float64, bool) {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// zset reads the body of a sorted set of type t: its members, unordered, each once.
func (r *reader) zset(t byte) ([]store.ZEntry, error) {
	var ents []store.ZEntry
	switch t {
	case typeZSet, typeZSet2:
		n, err := r.count()
		if err != nil {
			return nil, err
		}
		ents = make([]store.ZEntry, 0, n)
		for range n {
			m, err := r.str()
			if err != nil {
				return nil, err
			}
			var sc float64
			if t == typeZSet2 {
				b, err := r.take(8)
				if err != nil {
					return nil, err
				}
				sc = math.Float64frombits(binary.LittleEndian.Uint64(b))
			} else if sc, err = r.textDouble(); err != nil {
				return nil, err
			}
			if math.IsNaN(sc) {
				return nil, errCorrupt
			}
			ents = append(ents, store.ZEntry{Member: m, Score: sc})
		}
	default:
		items, err := r.blob(t)
		if err != nil {
			return nil, err
		}
		if len(items)%2 != 0 {
			return nil, errCorrupt
		}
		ents = make([]store.ZEntry, 0, len(items)/2)
		for i := 0; i < len(items); i += 2 {
			sc, ok := parseScore(items[i+1])
			if !ok {
				return nil, errCorrupt
			}
			ents = append(ents, store.ZEntry{Member: items[i], Score: sc})
		}
	}
	seen := make(map[string]struct{}, len(ents))
	for _, e := range ents {
		if _, ok := seen[string(e.Member)]; ok {
			return nil, errCorrupt
		}
		seen[string(e.Member)] = struct{}{}
	}
	if len(ents) == 0 {
		return nil, errCorrupt
	}
	return ents, nil
}

// textDouble reads a double as RDB_TYPE_ZSET has it (rdbLoadDoubleValue): a length byte
// (253 NaN, 254 +inf, 255 -inf) and that many bytes of text.
func (r *reader) textDouble() (float64, error) {
	n, err := r.byte()
	if err != nil {
		return 0, err
	}
	switch n {
	case 253:
		return math.NaN(), nil
	case 254:
		return math.Inf(1), nil
	case 255:
		return math.Inf(-1), nil
	}
	b, err := r.take(uint64(n))
	if err != nil {
		return 0, err
	}
	f, ok := parseScore(b)
	if !ok {
		return 0, errCorrupt
	}
	return f, nil
}
