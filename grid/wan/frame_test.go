package wan

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestBinaryBatchRoundTripsAsJSONDoes(t *testing.T) {
	in := Batch{Site: "london", Partition: 3, Upto: 1 << 40, Resync: true, Cursor: true, Policies: "fp", Changes: []Change{
		{Key: []byte("k1"), HLC: 7, Site: "london", Op: []byte{1, 2, 3}},
		{Key: []byte("gone"), HLC: 8, Site: "london"}, // a deletion
		{Key: []byte("ctr"), HLC: 9, Site: "paris", State: []byte{4, 5}},
		{Key: []byte{}, HLC: 10, Site: "london", Op: []byte{0}},
	}}
	for _, b := range []Batch{in, {Site: "rome", Partition: -1}} {
		out, err := DecodeBatch(AppendBatch(nil, &b))
		if err != nil {
			t.Fatalf("decoding %+v: %v", b, err)
		}
		js, _ := json.Marshal(b)
		var want Batch
		if err := json.Unmarshal(js, &want); err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(out)
		if string(got) != string(js) {
			t.Fatalf("binary round trip gives %s, JSON %s", got, js)
		}
		if len(b.Changes) > 0 && !reflect.DeepEqual(out.Changes[1].Op, want.Changes[1].Op) {
			t.Fatalf("a deletion's Op is %v after the binary round trip, %v after JSON", out.Changes[1].Op, want.Changes[1].Op)
		}
	}
}

func TestBinaryBatchRefusesBadBodiesNamingTheProblem(t *testing.T) {
	good := AppendBatch(nil, &Batch{Site: "london", Changes: []Change{{Key: []byte("k"), HLC: 1, Site: "london", Op: []byte("op")}}})
	for name, tc := range map[string]struct {
		body []byte
		want string
	}{
		"json":      {[]byte(`{"site":"london"}`), "not a " + BatchContentType},
		"truncated": {good[:len(good)-1], "change 0 of 1"},
		"trailing":  {append(append([]byte{}, good...), 0), "bytes after the last change"},
		"count":     {append([]byte(batchMagic), 0, 0, 0, 0, 0, 0xff, 0xff, 0x03), "changes in"},
	} {
		if _, err := DecodeBatch(tc.body); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one saying %q", name, err, tc.want)
		}
	}
}

func TestBatchContentTypeNegotiation(t *testing.T) {
	for h, want := range map[string]bool{
		BatchContentType + ", application/json": true,
		"application/json, " + BatchContentType: true,
		BatchContentType + "; q=1":              true,
		"application/json":                      false,
		"":                                      false,
	} {
		if got := AcceptsBatchType(h); got != want {
			t.Errorf("AcceptsBatchType(%q) = %v, want %v", h, got, want)
		}
	}
}
