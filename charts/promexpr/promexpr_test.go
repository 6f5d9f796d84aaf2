package promexpr

import (
	"reflect"
	"testing"
)

func TestSelectors(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`up`, []string{"up"}},
		{`up{job="a,b}"} == 0`, []string{`up{job="a,b}"}`}},
		{`sum by (namespace, partition) (rate(insight_grid_commands_total{result="error"}[$__rate_interval]))`,
			[]string{`insight_grid_commands_total{result="error"}`}},
		{`histogram_quantile(0.99, sum by (le) (rate(x_bucket{a="1"}[1m]))) > 1e-3`, []string{`x_bucket{a="1"}`}},
		{`a{n="x"} / (b{n="x"} > 0)`, []string{`a{n="x"}`, `b{n="x"}`}},
		{`k{s="1"} and on (namespace, pod) (serving{s="1"} == 1)`, []string{`k{s="1"}`, `serving{s="1"}`}},
		{`count(insight:partition_serving:sum{a="b"} == 0) or vector(0)`, []string{`insight:partition_serving:sum{a="b"}`}},
		{`max without (pod) (m) offset 5m`, []string{"m"}},
		{`label_replace(m, "dst", "$1", "src", "(.*)")`, []string{"m"}},
		{`x * on (pod) group_left (role) y`, []string{"x", "y"}},
		{`1 + 2.5 - 0x1f * Inf`, nil},
	}
	for _, tt := range tests {
		var got []string
		for _, s := range Selectors(tt.expr) {
			got = append(got, s.String())
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Selectors(%q) = %q, want %q", tt.expr, got, tt.want)
		}
	}
}

func TestSelectorHas(t *testing.T) {
	s := Selectors(`m{namespace="$namespace", insight_release="a,b",partition=~"$partition"}`)[0]
	for m, want := range map[string]bool{
		`namespace="$namespace"`: true, `insight_release="a,b"`: true, `partition=~"$partition"`: true,
		`insight_release="a"`: false, `namespace="x"`: false,
	} {
		if got := s.Has(m); got != want {
			t.Errorf("%s Has(%s) = %v, want %v", s, m, got, want)
		}
	}
}
