package schema

import (
	"testing"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/shopspring/decimal"
)

// TestDecodeStrictAndRoundTrip checks that each type reads back what Encode writes,
// and that text that does not convert is an error (the caller's NULL and warning), not
// a truncated or rounded value.
func TestDecodeStrictAndRoundTrip(t *testing.T) {
	ctx := sql.NewEmptyContext()
	good := []struct{ typ, text string }{
		{"int", "-42"}, {"bigint unsigned", "18446744073709551615"}, {"tinyint", "127"},
		{"double", "150.5"}, {"float", "1.5"}, {"decimal(10,2)", "5.50"}, {"varchar(5)", "héllo"},
		{"date", "2026-01-02"}, {"datetime", "2026-01-02 03:04:05"}, {"datetime(6)", "2026-01-02 03:04:05.123456"},
		{"varbinary(4)", "\x00\x01"}, {"json", `{"a": 1}`},
	}
	for _, g := range good {
		typ, err := ParseType(g.typ)
		if err != nil {
			t.Fatal(err)
		}
		v, err := Decode(ctx, typ, g.text)
		if err != nil {
			t.Errorf("%s %q: %v", g.typ, g.text, err)
			continue
		}
		back, err := Encode(ctx, typ, v)
		if err != nil || back != g.text {
			t.Errorf("%s %q: encoded back as %q, %v", g.typ, g.text, back, err)
		}
	}
	spark := []struct{ typ, text string }{{"tinyint", "true"}, {"boolean", "false"}, {"double", "1.0E10"}}
	for _, s := range spark {
		typ, _ := ParseType(s.typ)
		if _, err := Decode(ctx, typ, s.text); err != nil {
			t.Errorf("%s %q (as Spark writes it): %v", s.typ, s.text, err)
		}
	}
	bad := []struct{ typ, text string }{
		{"int", "ten"}, {"int", "1.5"}, {"int", "12abc"}, {"tinyint", "300"}, {"int unsigned", "-1"},
		{"double", "x"}, {"decimal(10,2)", "abc"}, {"date", "2026-13-45"}, {"datetime", "yesterday"},
	}
	for _, b := range bad {
		typ, _ := ParseType(b.typ)
		if v, err := Decode(ctx, typ, b.text); err == nil {
			t.Errorf("%s %q: decoded as %v, want an error", b.typ, b.text, v)
		}
	}
}

// TestDefinitionRoundTrip checks that a definition reads back as written: types,
// nullability, primary key, AUTO_INCREMENT, literal defaults.
func TestDefinitionRoundTrip(t *testing.T) {
	ctx := sql.NewEmptyContext()
	intT, _ := ParseType("int")
	vcT, _ := ParseType("varchar(20)")
	def := &Table{Name: "t", PK: 0, Schema: sql.NewPrimaryKeySchema(sql.Schema{
		{Name: "id", Type: intT, PrimaryKey: true, AutoIncrement: true, Source: "t"},
		{Name: "c", Type: vcT, Nullable: true, Source: "t"},
	}, 0)}
	raw, err := def.Marshal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unmarshal("t", raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.PK != 0 || !got.Schema.Equals(def.Schema.Schema) {
		t.Errorf("read back %v, want %v", got.Schema.Schema, def.Schema.Schema)
	}
	for _, name := range []string{"a:b", "_insight_x", ""} {
		if err := CheckName(name); err == nil {
			t.Errorf("table name %q accepted", name)
		}
	}
	if got := (&Table{Name: "a*b"}).ScanPattern(); got != `a\*b:*` {
		t.Errorf("ScanPattern of a*b: %q", got)
	}
}

// TestCanonicalDecimal checks the fast reading of DECIMAL text against the engine's
// conversion: the same value, exponent and MySQL text for canonical text, and text that
// is not canonical (exponents, spaces, more decimals than the scale, too many digits)
// left to the engine.
func TestCanonicalDecimal(t *testing.T) {
	ctx := sql.NewEmptyContext()
	fast := map[string][]string{
		"decimal(10,2)": {"5.50", "0.00", "-0.01", "12345678.99", "-12345678.99", "7", "7.5", "0007.25", "-0.00"},
		"decimal(5,0)":  {"0", "99999", "-99999", "00012"},
		"decimal(18,4)": {"12345678901234.5678", "-1.0001"},
		"decimal(6,6)":  {"0.123456", "-0.000001", "0"},
	}
	for ts, texts := range fast {
		typ, err := ParseType(ts)
		if err != nil {
			t.Fatal(err)
		}
		dt := typ.(sql.DecimalType)
		for _, text := range texts {
			got, ok := canonicalDecimal(dt, text)
			if !ok {
				t.Errorf("%s %q: not read as canonical", ts, text)
				continue
			}
			want, _, err := typ.Convert(ctx, text)
			if err != nil {
				t.Fatalf("%s %q: the engine: %v", ts, text, err)
			}
			w := want.(decimal.Decimal)
			gs, _ := typ.SQL(ctx, nil, got)
			ws, _ := typ.SQL(ctx, nil, w)
			if !got.Equal(w) || got.Exponent() != w.Exponent() || gs.ToString() != ws.ToString() {
				t.Errorf("%s %q: %s (exp %d, %q), the engine's %s (exp %d, %q)", ts, text, got, got.Exponent(), gs.ToString(), w, w.Exponent(), ws.ToString())
			}
			if v, err := Decode(ctx, typ, text); err != nil || !v.(decimal.Decimal).Equal(w) {
				t.Errorf("Decode %s %q: %v, %v", ts, text, v, err)
			}
		}
	}
	slow := map[string][]string{
		"decimal(10,2)": {"1.234", "123456789.00", "1e3", " 5", "5 ", "5.", ".5", "+5", "--5", "5-", "1.2.3", "", "-", "abc", "٣"},
		"decimal(30,2)": {"1234567890123456789.00"},
		"decimal(5,0)":  {"123456", "1.0"},
	}
	for ts, texts := range slow {
		typ, _ := ParseType(ts)
		for _, text := range texts {
			if got, ok := canonicalDecimal(typ.(sql.DecimalType), text); ok {
				t.Errorf("%s %q: read as canonical %s, want it left to the engine", ts, text, got)
			}
		}
	}
}
