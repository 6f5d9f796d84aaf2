package schema

import (
	"testing"

	"github.com/dolthub/go-mysql-server/sql"
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
