package schema

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/dolthub/vitess/go/sqltypes"
	"github.com/shopspring/decimal"
)

// Encode is the text a hash field holds for v, a value of type typ as the engine gives
// it (already converted to the column's type): MySQL's text form of the value, the form
// a MySQL client reads. A nil v has no text: the field is left out of the hash, as
// spark-redis leaves null columns out.
func Encode(ctx *sql.Context, typ sql.Type, v any) (string, error) {
	if types.IsBinaryType(typ) || types.IsTextOnly(typ) {
		switch s := v.(type) {
		case string:
			return s, nil
		case []byte:
			return string(s), nil
		}
	}
	val, err := typ.SQL(ctx, nil, v)
	if err != nil {
		return "", fmt.Errorf("encoding %v as %s: %w", v, typ, err)
	}
	return val.ToString(), nil
}

// Decode is the value of type typ that the hash field text s holds, or an error when s
// does not convert (the caller makes it NULL with a warning). Integers and floats are
// parsed strictly (no trailing text, no rounding of an integer); true and false (what
// Spark writes for a BooleanType) are 1 and 0 for the integer types.
func Decode(ctx *sql.Context, typ sql.Type, s string) (any, error) {
	switch {
	case types.IsInteger(typ):
		var n any
		switch strings.ToLower(s) {
		case "true":
			n = int64(1)
		case "false":
			n = int64(0)
		default:
			if types.IsUnsigned(typ) {
				u, err := strconv.ParseUint(s, 10, 64)
				if err != nil {
					return nil, err
				}
				n = u
			} else {
				i, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					return nil, err
				}
				n = i
			}
		}
		v, inRange, err := typ.Convert(ctx, n)
		if err != nil {
			return nil, err
		}
		if inRange != sql.InRange {
			return nil, fmt.Errorf("%s is out of range for %s", s, typ)
		}
		return v, nil
	case types.IsFloat(typ):
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, err
		}
		if typ.Type() == sqltypes.Float32 && math.Abs(f) > math.MaxFloat32 {
			return nil, fmt.Errorf("%s is out of range for %s", s, typ)
		}
		v, _, err := typ.Convert(ctx, f)
		return v, err
	case types.IsDecimal(typ):
		if d, ok := canonicalDecimal(typ.(sql.DecimalType), s); ok {
			return d, nil
		}
	case types.IsTextOnly(typ), types.IsBinaryType(typ):
		// As stored, whatever its length: the column's length is checked on writes.
		if types.IsBinaryType(typ) {
			return []byte(s), nil
		}
		return s, nil
	}
	v, inRange, err := typ.Convert(ctx, s)
	if err != nil {
		return nil, err
	}
	if inRange != sql.InRange {
		return nil, fmt.Errorf("%s is out of range for %s", s, typ)
	}
	return v, nil
}

// canonicalDecimal is the value of a DECIMAL(p,s) column from its text when the text is
// the canonical form Encode writes (an optional minus sign, integer digits, and at most s
// decimals; 18 digits at most with the decimals padded to s): the value the engine's
// conversion gives (exponent -s), made without its two parses and rounding through big
// numbers, the bulk of reading a scanned row. ok is false for any other text, which the
// engine's conversion then decides on.
func canonicalDecimal(typ sql.DecimalType, s string) (decimal.Decimal, bool) {
	prec, scale := int(typ.Precision()), int(typ.Scale())
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	intPart, frac, dot := strings.Cut(s, ".")
	if intPart == "" || (dot && frac == "") || len(frac) > scale || len(intPart)+scale > 18 ||
		len(strings.TrimLeft(intPart, "0")) > prec-scale {
		return decimal.Decimal{}, false
	}
	var m int64
	for _, part := range [2]string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			c := part[i]
			if c < '0' || c > '9' {
				return decimal.Decimal{}, false
			}
			m = m*10 + int64(c-'0')
		}
	}
	for range scale - len(frac) {
		m *= 10
	}
	if neg {
		m = -m
	}
	return decimal.New(m, -int32(scale)), true
}

// TypeName is the name of typ a warning uses: integer, decimal, double, date, string...
func TypeName(typ sql.Type) string {
	switch {
	case types.IsInteger(typ):
		return "integer"
	case types.IsDecimal(typ):
		return "decimal"
	case types.IsFloat(typ):
		return "double"
	case types.IsTime(typ):
		return strings.ToLower(typ.String())
	}
	return strings.Fields(typ.String())[0]
}

// emptyContext is a context for conversions outside a statement (loading definitions).
func emptyContext() *sql.Context { return sql.NewContext(context.Background()) }
