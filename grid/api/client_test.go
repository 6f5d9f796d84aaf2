package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fakeManager answers like the grid's manager for partitions 0 and 1, and names an
// unknown path like a proxy that cannot reach one.
func fakeManager(t *testing.T) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method + " " + r.URL.RequestURI() {
		case "GET /v1/partitions":
			_, _ = w.Write([]byte(`{"partitions":[{"id":0,"epoch":3,"primary":"p0-i0","backup":"p0-i1","inSync":true,"preferredPrimary":"p0-i0",
				"instances":[{"id":"p0-i0","role":"primary","ready":true,"keys":12}]},{"id":1}]}`))
		case "POST /v1/partitions/0/failover":
			_, _ = w.Write([]byte(`{"partition":0,"from":"p0-i0","to":"p0-i1","epoch":4,"pauseMicros":850}`))
		case "POST /v1/partitions/0/failback":
			_, _ = w.Write([]byte(`{"partition":0,"unchanged":true,"primary":"p0-i0","epoch":3}`))
		case "POST /v1/partitions/1/failover", "POST /v1/partitions/1/failback":
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"error":{"code":"Conflict","message":"partition 1: backup p1-i1 is not in sync with primary p1-i0"}}`))
		case "POST /v1/partitions/7/failover":
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":{"code":"NotFound","message":"partition 7 not found: the grid has 2 partitions (0-1)"}}`))
		case "POST /v1/partitions/1/reset?confirm=1&primary=p1-i1":
			_, _ = w.Write([]byte(`{"partition":1,"epoch":3,"primary":"p1-i1","backup":"p1-i0","previous":{"epoch":2,"primary":"p1-i0","inSync":false,"preferredPrimary":"p1-i0"}}`))
		case "GET /v1/cluster":
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"no endpoints available for service \"x\"","code":503}`))
		default:
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("upstream connect error"))
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func TestClient(t *testing.T) {
	s := fakeManager(t)
	c := NewClient(s.URL+"/", nil)
	ctx := context.Background()

	r, err := c.Failover(ctx, 0)
	if err != nil || r.String() != "partition 0: p0-i0 -> p0-i1, epoch 4, write pause 0.85 ms" {
		t.Errorf("failover: %v %v", r, err)
	}
	r, err = c.Failback(ctx, 0)
	if err != nil || r.String() != "partition 0: p0-i0 is already the primary, epoch 3, unchanged" {
		t.Errorf("failback: %v %v", r, err)
	}
	ps, err := c.Partitions(ctx)
	if err != nil || len(ps) != 2 || ps[0].Epoch != 3 || !ps[0].InSync || *ps[0].Instances[0].Keys != 12 || ps[0].Instances[0].UsedMemoryBytes != nil {
		t.Errorf("partitions: %+v %v", ps, err)
	}
	rr, err := c.Reset(ctx, 1, "p1-i1")
	if err != nil || !strings.HasPrefix(rr.String(), "partition 1: reset, epoch 3, primary p1-i1, backup p1-i0 (catching up)") || rr.Previous.Primary != "p1-i0" {
		t.Errorf("reset: %v %v", rr, err)
	}

	_, err = c.Failover(ctx, 1)
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != 409 || ae.BadRequest() || err.Error() != "partition 1: backup p1-i1 is not in sync with primary p1-i0 (HTTP 409 Conflict)" {
		t.Errorf("conflict: %v", err)
	}
	_, err = c.Failover(ctx, 7)
	if !errors.As(err, &ae) || !ae.BadRequest() {
		t.Errorf("not found: %v", err)
	}
	_, err = c.Failover(ctx, 3)
	if !IsUnreachable(err) || !strings.Contains(err.Error(), "HTTP 502: upstream connect error") {
		t.Errorf("bad gateway: %v", err)
	}
	// A proxy's own refusal is a Kubernetes Status: no manager answered.
	_, err = c.Cluster(ctx)
	if !IsUnreachable(err) || !strings.Contains(err.Error(), "no endpoints available") {
		t.Errorf("proxy refusal: %v", err)
	}

	s.Close()
	_, err = c.Failover(ctx, 0)
	if !IsUnreachable(err) {
		t.Errorf("closed server: %v", err)
	}
}

// FailbackAll goes on after a refused partition and reports each one.
func TestFailbackAll(t *testing.T) {
	c := NewClient(fakeManager(t).URL, nil)
	var seen []int
	out, err := c.FailbackAll(context.Background(), func(o Outcome, err error) {
		seen = append(seen, o.Partition)
		if (o.Error == nil) != (err == nil) {
			t.Errorf("partition %d: outcome error %v, call error %v", o.Partition, o.Error, err)
		}
	})
	if err != nil || len(out) != 2 || len(seen) != 2 || !out[0].Unchanged || out[1].Error == nil || out[1].Error.Code != CodeConflict || out[1].Partition != 1 {
		t.Fatalf("FailbackAll: %+v, %v", out, err)
	}
}

func TestParseURL(t *testing.T) {
	for raw, want := range map[string]string{
		"http://10.0.0.7:8090/": "http://10.0.0.7:8090",
		"127.1.0.3:8090":        "http://127.1.0.3:8090",
		"https://m.example/api": "https://m.example/api",
		"ftp://x":               "",
		"http://":               "",
		"http://h:1/?a=b":       "",
	} {
		got, err := ParseURL(raw)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("ParseURL(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
}

// RequestRepartition sends {"partitions": N[, "rate": R]} as JSON; a refusal comes back as
// *Error.
func TestRepartition(t *testing.T) {
	var got string
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = r.Method + " " + r.URL.Path + " " + r.Header.Get("Content-Type") + " " + string(b)
		switch {
		case r.Method == http.MethodGet:
			_, _ = w.Write([]byte(`{"partitions":2,"target":3,"state":"moving","message":"1024 slots start moving","mapVersion":7,"slotsRemaining":5461,"slotsMoving":1024,"moves":[{"slots":[[5461,6484]],"from":0,"to":2,"state":"migrating"}]}`))
		case strings.Contains(string(b), `"partitions":3`):
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"partitions":2,"target":3,"state":"growing","mapVersion":6,"moves":[]}`))
		default:
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"error":{"code":"Conflict","message":"re-partitioning to 3 partitions is in progress"}}`))
		}
	}))
	defer s.Close()
	c := NewClient(s.URL, s.Client())
	ctx := context.Background()
	st, err := c.RequestRepartition(ctx, 3, nil)
	if err != nil || st.Target != 3 || st.State != StateGrowing || st.Idle() {
		t.Fatalf("POST 3: %+v, %v", st, err)
	}
	if want := `POST /v1/repartition application/json {"partitions":3}`; got != want {
		t.Errorf("sent %q, want %q", got, want)
	}
	rate, err := ParseRate("2mb")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RequestRepartition(ctx, 3, &rate); err != nil {
		t.Fatal(err)
	}
	if want := `POST /v1/repartition application/json {"partitions":3,"rate":2097152}`; got != want {
		t.Errorf("sent %q, want %q", got, want)
	}
	st, err = c.Repartition(ctx)
	if err != nil || st.SlotsRemaining != 5461 || len(st.Moves) != 1 || st.Moves[0].Slots[0] != [2]int{5461, 6484} || st.Moves[0].State != "migrating" {
		t.Fatalf("GET: %+v, %v", st, err)
	}
	_, err = c.RequestRepartition(ctx, 1, nil)
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict || ae.Code != CodeConflict {
		t.Fatalf("POST 1 during 3: %v, want a 409 *Error", err)
	}
}

func TestClientSendsTheOperatorTokenOnChangesOnly(t *testing.T) {
	seen := map[string]string{}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen[r.Method] = r.Header.Get(TokenHeader)
		_, _ = w.Write([]byte(`{"partitions":[]}`))
	}))
	t.Cleanup(s.Close)
	c := NewClient(s.URL, nil)
	c.Token = func() (string, error) { return "tok-1", nil }
	if _, err := c.Partitions(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ShrinkManagers(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if seen[http.MethodGet] != "" || seen[http.MethodPost] != "tok-1" {
		t.Fatalf("token seen by method: %v; want it on POST only", seen)
	}
	c.Token = func() (string, error) { return "", errors.New("secret demo-operator-token: forbidden") }
	if _, err := c.Failover(context.Background(), 0); err == nil || !strings.Contains(err.Error(), "secret demo-operator-token: forbidden") {
		t.Fatalf("failover with an unreadable token: %v, want the token's error", err)
	}
}
