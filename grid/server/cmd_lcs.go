package server

// maxLCSCells bounds the table LCS fills, (len(a)+1)×(len(b)+1) 4-byte cells: past it the
// grid answers Redis's reply to a failed allocation of that table instead of taking the
// memory (512 MiB) and the CPU time.
const maxLCSCells = 128 << 20

// cmdLCS is Redis 7.0's LCS: the keys' types are checked first, then the options; the
// table is built and walked back exactly as Redis does, so the ranges IDX reports are
// Redis's among the equally long common subsequences.
func cmdLCS(c *conn, args [][]byte) {
	vals, err := c.s.store.GetStrings(args[1:3])
	if err != nil {
		c.wr.Error("ERR The specified keys must contain string values")
		return
	}
	a, b := vals[0], vals[1]
	var getLen, getIdx, withMatchLen bool
	var minMatchLen int64
	for j := 3; j < len(args); j++ {
		switch opt := args[j]; {
		case eqFold(opt, "idx"):
			getIdx = true
		case eqFold(opt, "len"):
			getLen = true
		case eqFold(opt, "withmatchlen"):
			withMatchLen = true
		case eqFold(opt, "minmatchlen") && j+1 < len(args):
			n, ok := parseInt(args[j+1])
			if !ok {
				c.wr.Error(errNotInteger)
				return
			}
			minMatchLen = max(n, 0)
			j++
		default:
			c.wr.Error(errSyntax)
			return
		}
	}
	if getIdx && getLen {
		c.wr.Error("ERR If you want both the length and indexes, please just use IDX.")
		return
	}
	alen, blen := len(a), len(b)
	if int64(alen+1)*int64(blen+1) > maxLCSCells {
		c.wr.Error("ERR Insufficient memory, failed allocating transient memory for LCS")
		return
	}
	w := blen + 1
	dp := make([]uint32, (alen+1)*w)
	for i := 1; i <= alen; i++ {
		for j := 1; j <= blen; j++ {
			if a[i-1] == b[j-1] {
				dp[i*w+j] = dp[(i-1)*w+j-1] + 1
			} else {
				dp[i*w+j] = max(dp[(i-1)*w+j], dp[i*w+j-1])
			}
		}
	}
	total := dp[alen*w+blen]
	if getLen {
		c.wr.Int(int64(total))
		return
	}
	result := make([]byte, total)
	type match struct{ a0, a1, b0, b1 int }
	var matches []match
	idx := int(total)
	aStart, aEnd, bStart, bEnd := alen, 0, 0, 0 // aStart == alen: no range open
	for i, j := alen, blen; i > 0 && j > 0; {
		emit := false
		if a[i-1] == b[j-1] {
			result[idx-1] = a[i-1]
			switch {
			case aStart == alen:
				aStart, aEnd, bStart, bEnd = i-1, i-1, j-1, j-1
			case aStart == i && bStart == j:
				aStart--
				bStart--
			default:
				emit = true
			}
			if aStart == 0 || bStart == 0 {
				emit = true
			}
			idx--
			i--
			j--
		} else {
			if dp[(i-1)*w+j] > dp[i*w+j-1] {
				i--
			} else {
				j--
			}
			if aStart != alen {
				emit = true
			}
		}
		if emit {
			if n := aEnd - aStart + 1; minMatchLen == 0 || int64(n) >= minMatchLen {
				matches = append(matches, match{aStart, aEnd, bStart, bEnd})
			}
			aStart = alen
		}
	}
	if !getIdx {
		c.wr.Bulk(result)
		return
	}
	c.wr.Map(2)
	c.wr.BulkString("matches")
	c.wr.Array(len(matches))
	for _, m := range matches {
		if withMatchLen {
			c.wr.Array(3)
		} else {
			c.wr.Array(2)
		}
		c.wr.Array(2)
		c.wr.Int(int64(m.a0))
		c.wr.Int(int64(m.a1))
		c.wr.Array(2)
		c.wr.Int(int64(m.b0))
		c.wr.Int(int64(m.b1))
		if withMatchLen {
			c.wr.Int(int64(m.a1 - m.a0 + 1))
		}
	}
	c.wr.BulkString("len")
	c.wr.Int(int64(total))
}
