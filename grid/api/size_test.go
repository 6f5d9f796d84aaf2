package api

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"100", 100, true}, {"1k", 1000, true}, {"1kb", 1024, true},
		{"2GB", 2 << 30, true}, {"512Mi", 512 << 20, true}, {"1g", 1e9, true},
		{"-1", 0, false}, {"ten", 0, false}, {"99999999999gb", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseBytes(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseBytes(%q) = %d, %v", tt.in, got, err)
		}
	}
}

// A rate in a request is a number or a size string; anything else is a *RateError that
// names the field.
func TestRateJSON(t *testing.T) {
	tests := []struct {
		in   string
		want Rate
		err  string
	}{
		{`{"rate": 1000}`, 1000, ""},
		{`{"rate": "2mb"}`, 2 << 20, ""},
		{`{"rate": 0}`, 0, ""},
		{`{"rate": -1}`, 0, "rate: -1: want bytes per second, 0 (no limit) or more"},
		{`{"rate": "fast"}`, 0, `rate: size "fast": want a non-negative number of bytes, optionally with a unit (k, kb, m, mb, g, gb, Ki, Mi, Gi)`},
		{`{"rate": true}`, 0, `rate: true: want bytes per second, a number or a size such as "4mb"`},
	}
	for _, tt := range tests {
		var req RepartitionRequest
		err := json.Unmarshal([]byte(tt.in), &req)
		var re *RateError
		switch {
		case tt.err != "" && (!errors.As(err, &re) || err.Error() != tt.err):
			t.Errorf("%s: error %v, want %q", tt.in, err, tt.err)
		case tt.err == "" && (err != nil || req.Rate == nil || *req.Rate != tt.want):
			t.Errorf("%s: %v, %v; want %d", tt.in, req.Rate, err, tt.want)
		}
	}
}
