package itest

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// TestScanConversions checks a scan whose columns the scanners convert on their own
// goroutines (integers, decimals, strings): the GROUP BY answer over every primary's
// rows, and a value that does not convert read as NULL with its warning given to the
// statement's session.
func TestScanConversions(t *testing.T) {
	c := ctx(t)
	mustExec(t, c, "CREATE TABLE sc (id BIGINT PRIMARY KEY, cat VARCHAR(8), n INT, price DECIMAL(10,2))")
	var b strings.Builder
	b.WriteString("INSERT INTO sc VALUES ")
	for i := 1; i <= 3000; i++ {
		if i > 1 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "(%d, 'c%d', %d, %d.%02d)", i, i%3, i, i%50, i%100)
	}
	mustExec(t, c, b.String())
	want := map[int][3]int{} // cat: count, sum of n, sum of price in cents
	for i := 1; i <= 3000; i++ {
		w := want[i%3]
		want[i%3] = [3]int{w[0] + 1, w[1] + i, w[2] + (i%50)*100 + i%100}
	}
	// The engine's sums print in their own forms (1.5015e+06, 24995): compared as numbers.
	got := rows(t, c, "SELECT cat, count(*), sum(n), sum(price) FROM sc GROUP BY cat ORDER BY cat")
	if len(got) != len(want) {
		t.Fatalf("GROUP BY: %q, want %d groups", got, len(want))
	}
	for _, line := range got {
		var cat, count int
		var sumN, sumPrice float64
		if _, err := fmt.Sscanf(strings.ReplaceAll(line, "|", " "), "c%d %d %g %g", &cat, &count, &sumN, &sumPrice); err != nil {
			t.Fatalf("GROUP BY row %q: %v", line, err)
		}
		w := want[cat]
		if count != w[0] || sumN != float64(w[1]) || math.Abs(sumPrice*100-float64(w[2])) > 1e-6 {
			t.Errorf("GROUP BY row %q, want count %d, sum(n) %d, sum(price) %d.%02d", line, w[0], w[1], w[2]/100, w[2]%100)
		}
	}

	if err := env.rdb.HSet(c, "sc:2", "price", "1,5").Err(); err != nil {
		t.Fatal(err)
	}
	conn, err := env.db.Conn(c)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rs, err := conn.QueryContext(c, "SELECT id, price FROM sc WHERE n < 4 ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "a scan with a bad decimal", scanAll(t, "scan", rs), []string{"1|1.01", "2|NULL", "3|3.03"})
	rs.Close()
	if w := warnings(t, conn); len(w) != 1 || !strings.HasPrefix(w[0], "Warning|1366|Incorrect decimal value: '1,5' for column 'price' in row sc:2") {
		t.Errorf("SHOW WARNINGS: %q", w)
	}
	mustExec(t, c, "DROP TABLE sc")
}
