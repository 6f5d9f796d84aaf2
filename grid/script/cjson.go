package script

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// cjson is lua-cjson's encode, decode and null, with its defaults as Redis bundles it:
// numbers with 14 significant digits, "/" escaped, an empty table encoded as {}, a table
// is an array when its keys are the integers 1..n (at most half of them missing, or n ≤
// 10), nesting at most 1000 deep. lua-cjson's configuration functions are left out.

const cjsonMaxDepth = 1000

func (v *vm) cjsonLib() *lua.LTable {
	L := v.L
	t := L.NewTable()
	v.null = L.NewUserData()
	t.RawSetString("null", v.null)
	t.RawSetString("encode", L.NewFunction(v.cjsonEncode))
	t.RawSetString("decode", L.NewFunction(v.cjsonDecode))
	return t
}

func (v *vm) cjsonEncode(L *lua.LState) int {
	if L.GetTop() != 1 {
		L.ArgError(1, "expected 1 argument")
	}
	var b bytes.Buffer
	if err := v.encodeJSON(&b, L.Get(1), 0); err != nil {
		L.RaiseError("%s", err.Error())
	}
	L.Push(lua.LString(b.String()))
	return 1
}

func (v *vm) encodeJSON(b *bytes.Buffer, val lua.LValue, depth int) error {
	switch x := val.(type) {
	case lua.LString:
		encodeJSONString(b, string(x))
	case lua.LNumber:
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("Cannot serialise number: must not be NaN or Inf") //nolint:staticcheck // lua-cjson's wording
		}
		b.WriteString(formatNumber14(f))
	case lua.LBool:
		b.WriteString(strconv.FormatBool(bool(x)))
	case *lua.LUserData:
		if x != v.null {
			return fmt.Errorf("Cannot serialise userdata: type not supported") //nolint:staticcheck // lua-cjson's wording
		}
		b.WriteString("null")
	case *lua.LTable:
		if depth+1 > cjsonMaxDepth {
			return fmt.Errorf("Cannot serialise, excessive nesting (%d)", depth+1) //nolint:staticcheck // lua-cjson's wording
		}
		return v.encodeTable(b, x, depth+1)
	default:
		if val == lua.LNil {
			b.WriteString("null")
			return nil
		}
		return fmt.Errorf("Cannot serialise %s: type not supported", val.Type().String()) //nolint:staticcheck // lua-cjson's wording
	}
	return nil
}

// arrayLength is lua-cjson's lua_array_length: n when the keys are 1..n with few holes,
// -1 for an object.
func arrayLength(t *lua.LTable) (int, error) {
	maxKey, items := 0, 0
	isArray := true
	t.ForEach(func(k, _ lua.LValue) {
		n, ok := k.(lua.LNumber)
		if !ok || float64(n) < 1 || float64(n) != math.Floor(float64(n)) {
			isArray = false
			return
		}
		maxKey = max(maxKey, int(n))
		items++
	})
	if !isArray {
		return -1, nil
	}
	if maxKey > items*2 && maxKey > 10 {
		return -1, fmt.Errorf("Cannot serialise table: excessively sparse array") //nolint:staticcheck // lua-cjson's wording
	}
	return maxKey, nil
}

func (v *vm) encodeTable(b *bytes.Buffer, t *lua.LTable, depth int) error {
	n, err := arrayLength(t)
	if err != nil {
		return err
	}
	if n > 0 {
		b.WriteByte('[')
		for i := 1; i <= n; i++ {
			if i > 1 {
				b.WriteByte(',')
			}
			if err := v.encodeJSON(b, t.RawGetInt(i), depth); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	}
	b.WriteByte('{')
	first := true
	t.ForEach(func(k, val lua.LValue) {
		if err != nil {
			return
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		switch key := k.(type) {
		case lua.LString:
			encodeJSONString(b, string(key))
		case lua.LNumber:
			encodeJSONString(b, formatNumber14(float64(key)))
		default:
			err = fmt.Errorf("Cannot serialise table: table key must be a number or string") //nolint:staticcheck // lua-cjson's wording
			return
		}
		b.WriteByte(':')
		err = v.encodeJSON(b, val, depth)
	})
	if err != nil {
		return err
	}
	b.WriteByte('}')
	return nil
}

// formatNumber14 is C's "%.14g", lua-cjson's number format.
func formatNumber14(f float64) string { return formatG(f, 14) }

// formatG is C's "%.<prec>g": fixed notation when the exponent is in [-4, prec), else
// exponential, trailing zeros dropped.
func formatG(f float64, prec int) string {
	e := strconv.FormatFloat(f, 'e', prec-1, 64)
	mant, exp, _ := strings.Cut(e, "e")
	x, _ := strconv.Atoi(exp)
	if x >= -4 && x < prec {
		return trimFraction(strconv.FormatFloat(f, 'f', prec-1-x, 64))
	}
	return trimFraction(mant) + "e" + exp
}

// trimFraction drops the trailing zeros of a fraction, and its point when none is left.
func trimFraction(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}

// encodeJSONString writes s quoted as lua-cjson does.
func encodeJSONString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '/':
			b.WriteString(`\/`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 || c == 0x7f {
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&15])
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}

func (v *vm) cjsonDecode(L *lua.LState) int {
	if L.GetTop() != 1 {
		L.ArgError(1, "expected 1 argument")
	}
	s := L.CheckString(1)
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	d.UseNumber()
	var x any
	if err := d.Decode(&x); err != nil {
		L.RaiseError("Expected value but found invalid token: %s", err.Error())
	}
	if d.More() {
		L.RaiseError("Expected the end but found more JSON at character %d", d.InputOffset()+1)
	}
	val, err := v.fromJSON(x, 0)
	if err != nil {
		L.RaiseError("%s", err.Error())
	}
	L.Push(val)
	return 1
}

func (v *vm) fromJSON(x any, depth int) (lua.LValue, error) {
	if depth > cjsonMaxDepth {
		return nil, fmt.Errorf("Found too many nested data structures (%d)", depth) //nolint:staticcheck // lua-cjson's wording
	}
	L := v.L
	switch y := x.(type) {
	case nil:
		return v.null, nil
	case bool:
		return lua.LBool(y), nil
	case string:
		return lua.LString(y), nil
	case json.Number:
		f, err := strconv.ParseFloat(string(y), 64)
		if err != nil {
			return nil, fmt.Errorf("Expected value but found invalid number %s", y) //nolint:staticcheck // lua-cjson's wording
		}
		return lua.LNumber(f), nil
	case []any:
		t := L.CreateTable(len(y), 0)
		for i, el := range y {
			val, err := v.fromJSON(el, depth+1)
			if err != nil {
				return nil, err
			}
			t.RawSetInt(i+1, val)
		}
		return t, nil
	case map[string]any:
		t := L.CreateTable(0, len(y))
		for k, el := range y {
			val, err := v.fromJSON(el, depth+1)
			if err != nil {
				return nil, err
			}
			t.RawSetString(k, val)
		}
		return t, nil
	}
	return nil, fmt.Errorf("unexpected JSON value %T", x)
}
