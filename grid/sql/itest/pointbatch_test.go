package itest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentPointSelects runs point and range selects from many clients at once, so
// their HMGETs to each primary go in shared batches: every statement gets its own rows, a
// missing key or a key holding another type than a hash none (its WRONGTYPE reply is its
// own), whatever else is in its batch.
func TestConcurrentPointSelects(t *testing.T) {
	c := ctx(t)
	mustExec(t, c, "CREATE TABLE pb (id BIGINT PRIMARY KEY, v VARCHAR(16))")
	var b strings.Builder
	b.WriteString("INSERT INTO pb VALUES ")
	for i := 1; i <= 500; i++ {
		if i > 1 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "(%d, 'v%d')", i, i)
	}
	mustExec(t, c, b.String())
	if err := env.rdb.Set(c, "pb:999", "a string", 0).Err(); err != nil {
		t.Fatal(err)
	}
	st, err := env.db.PrepareContext(c, "SELECT v FROM pb WHERE id = ?")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rangeSt, err := env.db.PrepareContext(c, "SELECT id FROM pb WHERE id BETWEEN ? AND ? ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rangeSt.Close()
	var wg sync.WaitGroup
	for w := range 24 {
		wg.Go(func() {
			for i := range 150 {
				id := 1 + (w*150+i*7)%520 // 501-520: no such row
				if i%50 == 0 {
					id = 999
				}
				if i%3 == 0 {
					// 20 keys from id: those up to 500 are rows, and 999 holds a string.
					rs, err := rangeSt.QueryContext(c, id, id+19)
					if err != nil {
						t.Errorf("ids %d-%d: %v", id, id+19, err)
						return
					}
					got := scanAll(t, "range select", rs)
					rs.Close()
					var want []string
					for k := id; k <= id+19 && k <= 500; k++ {
						want = append(want, fmt.Sprint(k))
					}
					if strings.Join(got, ",") != strings.Join(want, ",") {
						t.Errorf("ids %d-%d: got %q, want %q", id, id+19, got, want)
					}
					continue
				}
				rs, err := st.QueryContext(c, id)
				if err != nil {
					t.Errorf("id %d: %v", id, err)
					return
				}
				got := scanAll(t, "point select", rs)
				rs.Close()
				var want []string
				if id <= 500 {
					want = []string{fmt.Sprintf("v%d", id)}
				}
				if strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("id %d: got %q, want %q", id, got, want)
				}
			}
		})
	}
	wg.Wait()
}
