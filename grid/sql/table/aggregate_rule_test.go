package table

import (
	"testing"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/dolthub/vitess/go/sqltypes"
)

// TestNumberRules checks SCANAGG's rule per column type: the integer digits every value
// of which is in the type's range, the DECIMAL's own digits, and no rule for types whose
// sums are not exact (floating point) or past 18 digits.
func TestNumberRules(t *testing.T) {
	for _, tc := range []struct {
		typ       sql.Type
		ok        bool
		intDigits int
		scale     int
		unsigned  bool
	}{
		{types.Int8, true, 2, 0, false},
		{types.Uint8, true, 2, 0, true},
		{types.Int16, true, 4, 0, false},
		{types.Uint16, true, 4, 0, true},
		{types.Int24, true, 6, 0, false},
		{types.Uint24, true, 7, 0, true},
		{types.Int32, true, 9, 0, false},
		{types.Uint32, true, 9, 0, true},
		{types.Int64, true, 18, 0, false},
		{types.Uint64, true, 18, 0, true},
		{types.MustCreateDecimalType(10, 2), true, 8, 2, false},
		{types.MustCreateDecimalType(18, 18), true, 0, 18, false},
		{types.MustCreateDecimalType(19, 2), false, 0, 0, false},
		{types.Float64, false, 0, 0, false},
		{types.Float32, false, 0, 0, false},
		{types.Text, false, 0, 0, false},
		{types.Date, false, 0, 0, false},
	} {
		r, ok := numberRule(tc.typ)
		if ok != tc.ok || r.intDigits != tc.intDigits || r.scale != tc.scale || r.unsigned != tc.unsigned {
			t.Errorf("%s: got %+v %v, want intdigits %d scale %d unsigned %v ok %v", tc.typ, r, ok, tc.intDigits, tc.scale, tc.unsigned, tc.ok)
		}
		if ok && r.integer != types.IsInteger(tc.typ) {
			t.Errorf("%s: integer %v", tc.typ, r.integer)
		}
	}
}

// TestGroupable checks the GROUP BY column types whose stored text is their identity.
func TestGroupable(t *testing.T) {
	for _, tc := range []struct {
		typ  sql.Type
		want bool
	}{
		{types.MustCreateString(sqltypes.VarChar, 8, sql.Collation_Default), true},
		{types.MustCreateString(sqltypes.Char, 8, sql.Collation_utf8mb4_0900_bin), true},
		{types.MustCreateString(sqltypes.Text, 100, sql.Collation_Unspecified), true},
		{types.MustCreateString(sqltypes.VarChar, 8, sql.Collation_utf8mb4_0900_ai_ci), false},
		{types.MustCreateString(sqltypes.VarChar, 8, sql.Collation_utf8mb4_bin), false},
		{types.MustCreateBinary(sqltypes.VarBinary, 8), true},
		{types.Blob, true},
		{types.JSON, false},
		{types.Int64, false},
		{types.Float64, false},
		{types.MustCreateDecimalType(10, 2), false},
	} {
		if got := groupable(tc.typ); got != tc.want {
			t.Errorf("%s: groupable %v, want %v", tc.typ, got, tc.want)
		}
	}
}
