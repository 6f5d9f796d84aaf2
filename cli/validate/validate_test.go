package validate

import (
	"reflect"
	"testing"
)

func TestParseSchemaErrors(t *testing.T) {
	report := "insight:\n- at '/x': got string, want integer\npu:\n- at '/partitions': minimum: got 0, want 1\n" +
		"- at '/antiAffinity': validation failed\n  - at '/antiAffinity/topology': value must be one of 'a', 'b'\n" +
		"  - at '/antiAffinity': additional properties 'foo' not allowed\n"
	full := map[string]any{"x": "s", "pu": map[string]any{"partitions": 0, "antiAffinity": map[string]any{"topology": "rack"}}}
	got := parseSchemaErrors(report, map[string]string{"insight": "", "pu": "pu"}, full)
	want := []Problem{
		{Key: "x", Value: "s", Message: "got string, want integer"},
		{Key: "pu.partitions", Value: 0, Message: "minimum: got 0, want 1"},
		{Key: "pu.antiAffinity.topology", Value: "rack", Message: "value must be one of 'a', 'b'"},
		{Key: "pu.antiAffinity", Message: "additional properties 'foo' not allowed"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
}

func TestProblemString(t *testing.T) {
	for _, tt := range []struct {
		p    Problem
		want string
	}{
		{Problem{Key: "--memory", Value: "1Gx", Message: "not a memory quantity"}, "--memory: not a memory quantity (given: 1Gx)"},
		{Problem{Key: "pu.x", Message: "pu.x=1 is wrong"}, "pu.x=1 is wrong"},
		{Problem{Key: "pu.y", Message: "missing"}, "pu.y: missing"},
	} {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%q, want %q", got, tt.want)
		}
	}
}
