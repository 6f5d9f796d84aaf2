package api

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseBytes parses a size the way redis.conf does: a plain number of bytes, or with a
// unit: k/m/g (powers of 1000) or kb/mb/gb (powers of 1024), any case. Kubernetes-style
// Ki/Mi/Gi are accepted too, since values often come from a chart.
func ParseBytes(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	units := []struct {
		suffix string
		mult   int64
	}{
		{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
		{"ki", 1 << 10}, {"mi", 1 << 20}, {"gi", 1 << 30},
		{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30},
		{"k", 1000}, {"m", 1000 * 1000}, {"g", 1000 * 1000 * 1000}, {"b", 1},
	}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSuffix(t, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q: want a non-negative number of bytes, optionally with a unit (k, kb, m, mb, g, gb, Ki, Mi, Gi)", s)
	}
	return n * mult, nil
}

// Rate is bytes per second, 0 meaning no limit. In JSON it is a number, or a size string
// that ParseBytes reads ("4mb").
type Rate int64

// ParseRate reads a rate given as a size, e.g. a --rate flag: "4mb", "512kb", "0".
func ParseRate(s string) (Rate, error) {
	n, err := ParseBytes(s)
	if err != nil {
		return 0, fmt.Errorf("%w; a rate is bytes per second, e.g. 4mb (0: no limit)", err)
	}
	return Rate(n), nil
}

// RateError is a rate in a request that is not one.
type RateError struct{ Err error }

func (e *RateError) Error() string { return "rate: " + e.Err.Error() }
func (e *RateError) Unwrap() error { return e.Err }

// UnmarshalJSON accepts a non-negative number or a size string; it fails with *RateError.
func (r *Rate) UnmarshalJSON(b []byte) error {
	var n int64
	if err := json.Unmarshal(b, &n); err == nil {
		if n < 0 {
			return &RateError{fmt.Errorf("%d: want bytes per second, 0 (no limit) or more", n)}
		}
		*r = Rate(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &RateError{fmt.Errorf("%s: want bytes per second, a number or a size such as \"4mb\"", b)}
	}
	n, err := ParseBytes(s)
	if err != nil {
		return &RateError{err}
	}
	*r = Rate(n)
	return nil
}
