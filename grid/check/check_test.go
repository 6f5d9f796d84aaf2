package check

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/server"
	"github.com/insightgrid/insight/grid/store"
)

// startGrid serves a one-partition grid without a backup on loopback and returns its address.
func startGrid(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.New(server.Config{Replication: server.Standalone{}, ProtoMaxBulkLen: 1 << 20}, store.New(64<<20), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	m, err := cluster.NewPartitionMap(1, false)
	if err != nil {
		t.Fatal(err)
	}
	id := cluster.InstanceID(0, 0)
	st := &cluster.State{Map: m, Records: map[int]cluster.Record{0: cluster.InitialRecord(0, false)},
		Instances: map[string]cluster.Instance{id: {ID: id, Partition: 0, Address: ln.Addr().String()}}}
	v, err := cluster.BuildView(st, id)
	if err != nil {
		t.Fatal(err)
	}
	s.SetView(v)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return ln.Addr().String()
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

func config(addr string, out *syncBuffer) Config {
	return Config{Addrs: []string{addr}, Duration: 700 * time.Millisecond, Rate: 400, Writers: 2, Prefix: "t:",
		StartTimeout: 5 * time.Second, VerifyTimeout: 5 * time.Second, Out: out}
}

func TestRunReadsEveryWriteBack(t *testing.T) {
	addr := startGrid(t)
	var out syncBuffer
	res, err := Run(context.Background(), config(addr, &out))
	if err != nil {
		t.Fatal(err)
	}
	started, result, err := api.ParseCheckLog(out.Bytes())
	if err != nil || started == nil || result == nil {
		t.Fatalf("documents: started %v result %v err %v\n%s", started, result, err, out.Bytes())
	}
	if result.Acknowledged != res.Acknowledged || result.Acknowledged < 50 || result.Lost != 0 || result.Failed != 0 || result.Unverified != 0 {
		t.Errorf("figures: %+v", result)
	}
	if result.Attempted != result.Acknowledged+result.Failed {
		t.Errorf("attempted %d != acknowledged %d + failed %d", result.Attempted, result.Acknowledged, result.Failed)
	}
	if result.P50Micros <= 0 || result.P99Micros < result.P50Micros || result.MaxMicros < result.P99Micros {
		t.Errorf("latencies p50 %d p99 %d max %d", result.P50Micros, result.P99Micros, result.MaxMicros)
	}
	// Two writers at 200 writes/s each: an acknowledgement every few milliseconds.
	if g := result.Gap(); g <= 0 || g > 500*time.Millisecond {
		t.Errorf("longest gap %s", g)
	}
	for _, doc := range []*api.CheckReport{started, result} {
		if len(doc.Slots) != 1 || doc.Slots[0].From != 0 || doc.Slots[0].To != 16383 || doc.Slots[0].Primary() != addr {
			t.Errorf("%s: slot map %+v, want 0-16383 at %s", doc.Kind, doc.Slots, addr)
		}
	}
}

func TestRunCountsLostWrites(t *testing.T) {
	addr := startGrid(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	var out syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan *api.CheckReport, 1)
	cfg := config(addr, &out)
	cfg.Duration = 2 * time.Second
	go func() {
		res, err := Run(ctx, cfg)
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	// Once writer 0 had its fourth key acknowledged, its first four are deleted behind
	// the check's back: exactly those are lost.
	for rdb.Exists(ctx, "t:0:3").Val() == 0 {
		if ctx.Err() != nil {
			t.Fatal("t:0:3 never written")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, k := range []string{"t:0:0", "t:0:1", "t:0:2", "t:0:3"} {
		if err := rdb.Del(ctx, k).Err(); err != nil {
			t.Fatal(err)
		}
	}
	res := <-done
	if res == nil {
		t.FailNow()
	}
	if res.Lost != 4 || strings.Join(res.LostKeys, ",") != "t:0:0,t:0:1,t:0:2,t:0:3" {
		t.Errorf("lost %d %v, want the 4 deleted keys", res.Lost, res.LostKeys)
	}
}

func TestRunWithoutGrid(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more
	var out syncBuffer
	cfg := config(addr, &out)
	cfg.StartTimeout = 300 * time.Millisecond
	res, err := Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "no write acknowledged within 300ms") {
		t.Fatalf("error %v, want no write acknowledged", err)
	}
	_, result, _ := api.ParseCheckLog(out.Bytes())
	if result == nil || result.Error == "" || result.Acknowledged != 0 || res.Failed == 0 {
		t.Errorf("result %+v", result)
	}
}

func TestValidate(t *testing.T) {
	err := Config{Writers: 0}.Validate()
	for _, want := range []string{"--addrs", "--duration", "--rate", "--writers", "--start-timeout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate of the zero config: %v, want %s named", err, want)
		}
	}
}
