package wan

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/internal/httpjson"
)

// fakePrimary serves a site's pull and ack endpoints from its tracker, as a data
// instance does, telling onPull each batch with changes and onAck each acknowledgement
// before it is recorded.
func fakePrimary(t *testing.T, s *site, onAck func(upto uint64), onPull func(Batch)) *api.Client {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/wan/pull", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Target string `json:"target"`
			Max    int    `json:"max"`
			WaitMS int    `json:"waitMs"`
			After  uint64 `json:"after"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			httpjson.Error(w, http.StatusBadRequest, "BadRequest", "%v", err)
			return
		}
		b, err := s.tr.PullAfter(req.Target, req.Max, req.After, s.rec)
		if err != nil {
			httpjson.Error(w, http.StatusBadRequest, "BadRequest", "%v", err)
			return
		}
		if len(b.Changes) == 0 {
			time.Sleep(10 * time.Millisecond) // a short long poll
		} else {
			onPull(b)
		}
		b.Cursor = true
		httpjson.Write(w, http.StatusOK, b)
	})
	mux.HandleFunc("POST /v1/wan/ack", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Target string `json:"target"`
			Upto   uint64 `json:"upto"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			httpjson.Error(w, http.StatusBadRequest, "BadRequest", "%v", err)
			return
		}
		onAck(req.Upto)
		if err := s.tr.Ack(req.Target, req.Upto, s.rec); err != nil {
			httpjson.Error(w, http.StatusBadRequest, "BadRequest", "%v", err)
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]uint64{"acked": req.Upto})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return api.NewClient(srv.URL, srv.Client())
}

// decodeBatch reads a delegator's gzip batch, binary or JSON by its Content-Type.
func decodeBatch(r *http.Request) (Batch, error) {
	var b Batch
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		return b, err
	}
	if IsBatchType(r.Header.Get("Content-Type")) {
		data, err := io.ReadAll(zr)
		if err != nil {
			return b, err
		}
		return DecodeBatch(data)
	}
	return b, json.NewDecoder(zr).Decode(&b)
}

func TestDelegatorPipelinesBatchesAcknowledgesInOrderWhenTheTargetAppliesThemOutOfOrderAndSwitchesToBinary(t *testing.T) {
	a := newSite(t, "a", nil, "b")
	for i := range 24 { // 8 batches of 3
		a.set(t, fmt.Sprintf("k%02d", i), "v")
	}
	var mu sync.Mutex
	var order []uint64           // the batches' Upto, in the order the target applied them
	applied := map[uint64]bool{} // the same, as a set
	var acks []uint64            // the acknowledgements the primary received
	var pulled []uint64          // every non-empty batch's Upto
	var formats []string         // the batches' Content-Type, in the order they arrived
	otherDone := make(chan struct{})
	var once sync.Once
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := decodeBatch(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Accept-Post", acceptPost)
		mu.Lock()
		formats = append(formats, r.Header.Get("Content-Type"))
		first := b.Upto == pulled[0]
		mu.Unlock()
		if first {
			// The first batch is applied only after another: out of order.
			select {
			case <-otherDone:
				time.Sleep(50 * time.Millisecond) // the other's answer goes first
			case <-time.After(10 * time.Second):
				t.Error("no other batch was sent while the first was in flight")
			}
		}
		mu.Lock()
		order = append(order, b.Upto)
		applied[b.Upto] = true
		mu.Unlock()
		if !first {
			once.Do(func() { close(otherDone) })
		}
		httpjson.Write(w, http.StatusOK, map[string]int{"changes": len(b.Changes)})
	}))
	defer sink.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	prim := fakePrimary(t, a, func(upto uint64) {
		mu.Lock()
		defer mu.Unlock()
		if n := len(acks); n > 0 && upto <= acks[n-1] {
			t.Errorf("ack %d after ack %d: not monotonic", upto, acks[n-1])
		}
		acks = append(acks, upto)
		for _, u := range pulled {
			if u <= upto && !applied[u] {
				t.Errorf("ack %d while the batch up to %d was not applied (applied %v)", upto, u, order)
			}
		}
		if upto == pulled[len(pulled)-1] && len(pulled) == 8 {
			cancel()
		}
	}, func(b Batch) {
		mu.Lock()
		pulled = append(pulled, b.Upto)
		mu.Unlock()
	})
	g := NewGateway(GatewayConfig{Site: "a", BatchKeys: 3})
	tg := GatewayTarget{Name: "b", Address: strings.TrimPrefix(sink.URL, "http://")}
	var l link
	defer l.drop()
	var lastAck uint64
	sent, err := g.pipeline(ctx, tg, 0, prim, &l, &lastAck)
	mu.Lock()
	defer mu.Unlock()
	if ctx.Err() != context.Canceled || !sent {
		t.Fatalf("the pipeline returned %v (sent %v) before every batch was acknowledged; acks %v", err, sent, acks)
	}
	if len(order) != 8 || order[0] == pulled[0] {
		t.Fatalf("the target applied batches up to %v of %v: want 8, not the first first", order, pulled)
	}
	if n := len(formats); formats[0] != "application/json" || formats[n-1] != BatchContentType {
		t.Fatalf("the batches came as %v: want JSON first, the binary framing once the sink said it takes it", formats)
	}
	if acks[len(acks)-1] != pulled[7] || a.tr.Status().Targets[0].Backlog != 0 {
		t.Fatalf("acks %v of batches up to %v, backlog %d: want every batch acknowledged", acks, pulled, a.tr.Status().Targets[0].Backlog)
	}
}

func TestSinkAppliesAtAPrimaryInJSONThenInTheBinaryFramingItSaysItTakes(t *testing.T) {
	var mu sync.Mutex
	var got []string // each request's Content-Type and changes
	advertise := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b Batch
		var err error
		if IsBatchType(r.Header.Get("Content-Type")) {
			var data []byte
			if data, err = io.ReadAll(r.Body); err == nil {
				b, err = DecodeBatch(data)
			}
		} else {
			err = json.NewDecoder(r.Body).Decode(&b)
		}
		if err != nil || r.URL.Path != "/v1/wan/apply" || r.Header.Get(api.TokenHeader) != "tok" {
			http.Error(w, fmt.Sprintf("%s %v token %q", r.URL.Path, err, r.Header.Get(api.TokenHeader)), http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, r.Header.Get("Content-Type")+" "+keysOf(b)+" "+b.Policies)
		if advertise {
			w.Header().Set("Accept-Post", acceptPost)
		}
		mu.Unlock()
		httpjson.Write(w, http.StatusOK, map[string]int{"applied": len(b.Changes)})
	}))
	defer srv.Close()
	prim := api.NewClient(srv.URL, srv.Client())
	prim.Token = func() (string, error) { return "tok", nil }
	g := NewGateway(GatewayConfig{Site: "paris"})
	part := Batch{Site: "london", Partition: -1, Policies: "fp", Changes: []Change{{Key: []byte("k"), HLC: 5, Site: "london", Op: []byte{1}}}}
	for _, adv := range []bool{false, true, true, true} {
		mu.Lock()
		advertise = adv
		mu.Unlock()
		if err := g.applyAt(context.Background(), prim, part); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"application/json k@5 fp", "application/json k@5 fp", BatchContentType + " k@5 fp", BatchContentType + " k@5 fp"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("the primary got %q, want %q: JSON until it says it takes the binary framing", got, want)
	}
}
