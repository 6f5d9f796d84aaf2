package main

import (
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBucketsCoverEveryValue(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, 1<<20 + 12345, 1 << 40, 1<<63 - 1, 1<<64 - 1} {
		b := bucketOf(v)
		if b < prev || b >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d (previous %d, %d buckets)", v, b, prev, numBuckets)
		}
		prev = b
		if hi := bucketHigh(b); hi < v || float64(hi-v) > float64(v)/subHalf {
			t.Errorf("value %d: bucket %d ends at %d, more than 1/%d above", v, b, hi, subHalf)
		}
		if b > 0 && bucketHigh(b-1) >= v {
			t.Errorf("value %d: previous bucket %d already ends at %d", v, b-1, bucketHigh(b-1))
		}
	}
}

func TestQuantileMatchesSortedSamples(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h, a, b histogram
	var samples []time.Duration
	for i := range 100000 {
		// Mostly ~0.3-1 ms, with a tail of up to 50 ms.
		d := time.Duration(300_000 + rng.IntN(700_000))
		if rng.IntN(100) == 0 {
			d = time.Duration(rng.Int64N(int64(50 * time.Millisecond)))
		}
		samples = append(samples, d)
		h.record(d)
		if i%2 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
	}
	a.merge(&b)
	slices.Sort(samples)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		want := samples[int(q*float64(len(samples)))-1]
		for name, hist := range map[string]*histogram{"one": &h, "merged": &a} {
			got := hist.quantile(q)
			if got < want || float64(got-want) > float64(want)/subHalf {
				t.Errorf("%s: quantile(%v) = %v, sorted samples say %v", name, q, got, want)
			}
		}
	}
	if h.max != samples[len(samples)-1] || a.max != h.max {
		t.Errorf("max %v / merged %v, want %v", h.max, a.max, samples[len(samples)-1])
	}
	var empty histogram
	if got := empty.quantile(0.99); got != 0 {
		t.Errorf("empty quantile = %v", got)
	}
}

func TestGapTracker(t *testing.T) {
	var g gapTracker
	t0 := time.Unix(1000, 0)
	g.start(t0)
	for _, ms := range []int{1, 2, 5, 1500, 1501, 1502} {
		g.ack(t0.Add(time.Duration(ms) * time.Millisecond))
	}
	g.ack(t0.Add(1400 * time.Millisecond)) // late arrival from another worker: not a gap
	gap, at := g.longest(t0.Add(1600 * time.Millisecond))
	if gap != 1495*time.Millisecond || !at.Equal(t0.Add(5*time.Millisecond)) {
		t.Errorf("gap %v at %v, want 1.495s at +5ms", gap, at.Sub(t0))
	}
	// Writes that never resume are a gap up to the end of the run.
	gap, at = g.longest(t0.Add(5 * time.Second))
	if gap != 5*time.Second-1502*time.Millisecond || !at.Equal(t0.Add(1502*time.Millisecond)) {
		t.Errorf("trailing gap %v at %v", gap, at.Sub(t0))
	}
}

func TestFillValue(t *testing.T) {
	v := make([]byte, 10)
	fillValue(v, "k:1")
	if string(v) != "k:1......." {
		t.Errorf("got %q", v)
	}
	fillValue(v, "a-key-longer-than-ten")
	if string(v) != "a-key-long" {
		t.Errorf("got %q", v)
	}
}

func TestWriteAcked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "acked")
	ws := []*worker{{acked: []uint64{0, 1, 7}}, {}, {acked: []uint64{3}}}
	if err := writeAcked(path, "lg:abcd:", ws); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "lg:abcd:0:0\nlg:abcd:0:1\nlg:abcd:0:7\nlg:abcd:2:3\n"; string(got) != want {
		t.Errorf("file %q, want %q", got, want)
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"--addr", "a:1,b:2", "--cluster", "--keyspace", "unique", "--acked-file", "f", "--track-gap"}, io.Discard)
	if err != nil || len(cfg.addrs) != 2 || cfg.clients != 50 || cfg.valueSize != 64 || !cfg.trackGap {
		t.Fatalf("cfg %+v, err %v", cfg, err)
	}
	for _, bad := range [][]string{
		{"--wait-replicas", "2"},
		{"--wait-replicas", "1", "--cluster"},
		{"--keyspace", "sequential"},
		{"--acked-file", "f"},
		{"--addr", "a:1,b:2"},
		{"--clients", "0"},
		{"--value-size", "0"},
		{"extra"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%s: accepted", strings.Join(bad, " "))
		}
	}
}
