package install

import (
	"strings"
	"testing"
)

func TestShapeAndSameValues(t *testing.T) {
	s := ShapeOf(map[string]any{"pu": map[string]any{"partitions": float64(3), "ha": true,
		"resources": map[string]any{"limits": map[string]any{"memory": "1Gi", "cpu": 1}}}})
	if s.Partitions != 3 || !s.HA || !s.AutoFailback || s.Limits["memory"] != "1Gi" || s.Limits["cpu"] != "1" {
		t.Errorf("shape: %+v", s)
	}
	if s := ShapeOf(map[string]any{"manager": map[string]any{"autoFailback": false}}); s.Partitions != 1 || s.HA || s.AutoFailback {
		t.Errorf("defaults: %+v", s)
	}
	if !SameValues(map[string]any{"pu": map[string]any{"partitions": 2}}, map[string]any{"pu": map[string]any{"partitions": 2.0}}) ||
		!SameValues(nil, map[string]any{}) || SameValues(map[string]any{"a": 1}, nil) {
		t.Error("SameValues")
	}
}

func TestCPUFlag(t *testing.T) {
	p := Parameters{Memory: "1Gi", CPU: "500m"}
	vals, err := p.UserValues(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"pu": map[string]any{"resources": map[string]any{
		"requests": map[string]any{"memory": "1Gi", "cpu": "500m"}, "limits": map[string]any{"memory": "1Gi", "cpu": "500m"}}}}
	if !SameValues(vals, want) {
		t.Errorf("values %v, want %v", vals, want)
	}
	p = Parameters{CPU: "fast"}
	if _, err := p.UserValues(nil, nil, nil); err == nil || !strings.Contains(err.Error(), "--cpu: not a CPU quantity; use e.g. 500m or 2 (given: fast)") {
		t.Errorf("bad cpu: %v", err)
	}
}

func TestPartitionsMaximum(t *testing.T) {
	ch, err := (&Parameters{}).LoadChart()
	if err != nil {
		t.Fatal(err)
	}
	if m, err := PartitionsMaximum(ch); err != nil || m != 512 {
		t.Errorf("PartitionsMaximum of the embedded chart: %d, %v; want 512 (values.schema.json)", m, err)
	}
}
