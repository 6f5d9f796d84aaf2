package itest

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

// aggregates are GROUP BY statements the grid's primaries compute (SCANAGG), over the
// table ag; each is compared with the same statement made unpushable by a filter that
// keeps every row (the engine then groups the scanned rows itself). Integer sums are
// DOUBLEs: past 2^53 the engine's depend on the order it reads rows in, so the sums
// compared stay below.
var aggregates = []string{
	"SELECT cat, count(*), avg(price), sum(price), min(price), max(price), count(price) FROM ag GROUP BY cat",
	"SELECT cat, sum(n), avg(n), min(n), max(n), count(n), min(u), max(u), count(u), min(s), max(s), sum(s), avg(s) FROM ag GROUP BY cat",
	"SELECT cat, bin, count(*) AS c, max(price) AS m FROM ag GROUP BY cat, bin",
	"SELECT count(*), avg(price), sum(n), min(u) FROM ag",
	"SELECT * FROM (SELECT cat, count(*) c, avg(price) a FROM ag GROUP BY cat) s WHERE c > 1",
	"SELECT cat, count(*) c, max(price) FROM ag GROUP BY cat HAVING c > 1",
}

// TestAggregatePushdown checks the GROUP BY the primaries compute against the engine's
// own over the same rows: NULL groups and values, an empty-string group, decimals,
// integers of several widths and signs, values the primaries defer (non-canonical but
// valid numbers) and values that do not convert (NULL with the same warnings); EXPLAIN
// shows which plan each ran.
func TestAggregatePushdown(t *testing.T) {
	c := ctx(t)
	mustExec(t, c, "CREATE TABLE ag (id BIGINT PRIMARY KEY, cat VARCHAR(8), bin VARBINARY(4), price DECIMAL(10,2), n INT, u BIGINT UNSIGNED, s TINYINT)")
	var b strings.Builder
	b.WriteString("INSERT INTO ag VALUES ")
	for i := 1; i <= 2000; i++ {
		if i > 1 {
			b.WriteString(",")
		}
		cat := fmt.Sprintf("'c%d'", i%5)
		switch i % 97 {
		case 0:
			cat = "NULL"
		case 1:
			cat = "''"
		}
		price := fmt.Sprintf("%d.%02d", i%300-150, i%100)
		if i%13 == 0 {
			price = "NULL"
		}
		fmt.Fprintf(&b, "(%d, %s, 'b%d', %s, %d, %d, %d)", i, cat, i%2, price, i*1000-999999, uint64(i)*4000000000000000, i%200-100)
	}
	mustExec(t, c, b.String())
	// Written to the hashes directly, as other clients of the grid may: numbers the
	// primaries leave to the endpoint, which reads them as numbers or as NULL with a warning.
	for key, fv := range map[string][]string{
		"ag:3":  {"price", "+5"},                  // a valid decimal, not canonical
		"ag:4":  {"price", "1e2", "n", "007"},     // 100.00; 7
		"ag:5":  {"price", "12.345"},              // past the scale
		"ag:6":  {"price", "abc"},                 // NULL, a warning
		"ag:7":  {"n", "true"},                    // 1
		"ag:8":  {"s", "300"},                     // out of TINYINT's range: NULL, a warning
		"ag:9":  {"u", "-1"},                      // negative for UNSIGNED: NULL, a warning
		"ag:10": {"n", "99999999999"},             // out of INT's range: NULL, a warning
		"ag:11": {"price", "99999999.99"},         // the largest DECIMAL(10,2)
		"ag:12": {"u", "18446744073709551615"},    // the largest BIGINT UNSIGNED
		"ag:14": {"price", "-0.00", "cat", "c1x"}, // a group of its own
	} {
		if err := env.rdb.HSet(c, key, fv).Err(); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := env.db.Conn(c)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i, q := range aggregates {
		pushed, pushedWarns := sortedRows(t, conn, q)
		unpushedQ := strings.Replace(q, "FROM ag", "FROM ag WHERE id IS NOT NULL", 1)
		unpushed, unpushedWarns := sortedRows(t, conn, unpushedQ)
		equal(t, q, pushed, unpushed)
		if i < 4 {
			equal(t, q+": warnings", pushedWarns, unpushedWarns)
		} else {
			// Under a subquery or a HAVING the engine's plan with a WHERE reads every
			// column, and warns about values the statement does not use.
			for _, w := range pushedWarns {
				if !slices.Contains(unpushedWarns, w) {
					t.Errorf("%s: warning %q, which the engine's plan does not give (%q)", q, w, unpushedWarns)
				}
			}
		}
		if !strings.Contains(explainPlan(t, conn, q), "GridAggregate") {
			t.Errorf("EXPLAIN PLAN %s: not computed by the primaries:\n%s", q, explainPlan(t, conn, q))
		}
		if strings.Contains(explainPlan(t, conn, unpushedQ), "GridAggregate") {
			t.Errorf("EXPLAIN PLAN %s: computed by the primaries, want the engine's GROUP BY", unpushedQ)
		}
	}
	// The values that do not convert are the warnings, by statement.
	for q, want := range map[string][]string{
		aggregates[0]: {"'abc' for column 'price' in row ag:6"},
		aggregates[1]: {"'99999999999' for column 'n' in row ag:10", "'-1' for column 'u' in row ag:9", "'300' for column 's' in row ag:8"},
	} {
		_, warns := sortedRows(t, conn, q)
		if len(warns) != len(want) {
			t.Errorf("%s: warnings %q, want %d", q, warns, len(want))
		}
		for _, w := range want {
			if !slices.ContainsFunc(warns, func(s string) bool { return strings.Contains(s, w) }) {
				t.Errorf("%s: warnings %q, want one with %s", q, warns, w)
			}
		}
	}
	// A group of one deferred row, and the largest values.
	got, _ := sortedRows(t, conn, "SELECT cat, count(*), sum(price), avg(price) FROM ag GROUP BY cat")
	if !slices.Contains(got, "c1x|1|0|0") {
		t.Errorf("the group of ag:14 alone: %q, want c1x|1|0|0", got)
	}
	got, _ = sortedRows(t, conn, "SELECT max(price), max(u) FROM ag")
	equal(t, "the largest values", got, []string{"99999999.99|18446744073709551615"})
}

// TestAggregatePushdownLeavesTheRestToTheEngine checks statements the primaries do not
// compute (DISTINCT, an expression, a numeric or floating-point GROUP BY column, a WHERE)
// keep the engine's plan, and an empty table's answers.
func TestAggregatePushdownLeavesTheRestToTheEngine(t *testing.T) {
	c := ctx(t)
	mustExec(t, c, "CREATE TABLE ag2 (id BIGINT PRIMARY KEY, cat VARCHAR(8), n INT, f DOUBLE, price DECIMAL(30,2))",
		"INSERT INTO ag2 VALUES (1, 'a', 1, 1.5, 1.00), (2, 'a', 2, 2.5, 2.00), (3, 'b', 2, NULL, NULL)")
	conn, err := env.db.Conn(c)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for q, want := range map[string][]string{
		"SELECT cat, count(DISTINCT n) FROM ag2 GROUP BY cat":     {"a|2", "b|1"},
		"SELECT cat, sum(n * 2) FROM ag2 GROUP BY cat":            {"a|6", "b|4"},
		"SELECT n, count(*) FROM ag2 GROUP BY n":                  {"1|1", "2|2"},
		"SELECT cat, sum(f) FROM ag2 GROUP BY cat":                {"a|4", "b|NULL"},
		"SELECT cat, sum(price) FROM ag2 GROUP BY cat":            {"a|3", "b|NULL"},
		"SELECT cat, count(*) FROM ag2 WHERE n > 1 GROUP BY cat":  {"a|1", "b|1"},
		"SELECT cat, max(id) FROM ag2 GROUP BY cat":               {"a|2", "b|3"},
		"SELECT count(cat) FROM ag2":                              {"3"},
		"SELECT cat, count(*) FROM ag2 GROUP BY cat HAVING 1 = 1": {"a|2", "b|1"},
	} {
		if strings.Contains(explainPlan(t, conn, q), "GridAggregate") && !strings.Contains(q, "HAVING") {
			t.Errorf("EXPLAIN PLAN %s: computed by the primaries, want the engine's GROUP BY", q)
		}
		got, _ := sortedRows(t, conn, q)
		equal(t, q, got, want)
	}
	// An empty table: no groups, or one row of a count of 0 and NULLs without GROUP BY.
	mustExec(t, c, "CREATE TABLE ag3 (id BIGINT PRIMARY KEY, cat VARCHAR(8), price DECIMAL(10,2))")
	equal(t, "GROUP BY of an empty table", rows(t, c, "SELECT cat, count(*) FROM ag3 GROUP BY cat"), nil)
	equal(t, "aggregates of an empty table", rows(t, c, "SELECT count(*), sum(price), avg(price), min(price) FROM ag3"), []string{"0|NULL|NULL|NULL"})
	if !strings.Contains(explainPlan(t, conn, "SELECT count(*), sum(price) FROM ag3"), "GridAggregate") {
		t.Error("aggregates of an empty table: not computed by the primaries")
	}
}

// TestAggregatePushdownDuringWrites checks GROUP BYs the primaries compute while rows of
// one group are written: the other groups' answers never change, and the written group's
// count and sum agree with each other (every row counted is counted whole).
func TestAggregatePushdownDuringWrites(t *testing.T) {
	c := ctx(t)
	mustExec(t, c, "CREATE TABLE agw (id BIGINT PRIMARY KEY, cat VARCHAR(8), price DECIMAL(10,2))")
	var b strings.Builder
	b.WriteString("INSERT INTO agw VALUES ")
	for i := 1; i <= 3000; i++ {
		if i > 1 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "(%d, 'c%d', %d.%02d)", i, i%3, i%70, i%100)
	}
	mustExec(t, c, b.String())
	const q = "SELECT cat, count(*), sum(price) FROM agw GROUP BY cat"
	conn, err := env.db.Conn(c)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	before, _ := sortedRows(t, conn, q)
	wc, cancel := context.WithCancel(c)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 1; wc.Err() == nil && i <= 3000; i++ {
			if err := env.rdb.HSet(wc, fmt.Sprintf("agw:%d", 100000+i), "cat", "new", "price", "2.50").Err(); err != nil && wc.Err() == nil {
				t.Error(err)
				return
			}
		}
	})
	for range 10 {
		got, _ := sortedRows(t, conn, q)
		var newCount int
		var newSum float64
		kept := slices.DeleteFunc(slices.Clone(got), func(r string) bool {
			if strings.HasPrefix(r, "new|") {
				if _, err := fmt.Sscanf(strings.ReplaceAll(r, "|", " "), "new %d %g", &newCount, &newSum); err != nil {
					t.Fatalf("%q: %v", r, err)
				}
				return true
			}
			return false
		})
		equal(t, "the groups not written to, during writes", kept, before)
		if want := float64(newCount) * 2.5; newCount > 0 && newSum != want {
			t.Errorf("the group written to: %d rows summing to %g, want %g", newCount, newSum, want)
		}
	}
	cancel()
	wg.Wait()
}

// sortedRows is q's rows sorted, and the warnings it left (sorted), on conn.
func sortedRows(t *testing.T, conn *sql.Conn, q string) ([]string, []string) {
	t.Helper()
	rs, err := conn.QueryContext(ctx(t), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	got := scanAll(t, q, rs)
	rs.Close()
	slices.Sort(got)
	warns := warnings(t, conn)
	slices.Sort(warns)
	return got, warns
}

// explainPlan is EXPLAIN PLAN of q, its lines joined.
func explainPlan(t *testing.T, conn *sql.Conn, q string) string {
	t.Helper()
	rs, err := conn.QueryContext(ctx(t), "EXPLAIN PLAN "+q)
	if err != nil {
		t.Fatalf("EXPLAIN PLAN %s: %v", q, err)
	}
	defer rs.Close()
	return strings.Join(scanAll(t, q, rs), "\n")
}
