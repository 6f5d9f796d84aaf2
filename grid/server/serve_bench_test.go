package server

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/insightgrid/insight/grid/store"
)

// benchServe measures GET or SET through the whole network path, as redis-benchmark
// drives it: clients connections over loopback TCP, each sending pipeline commands at a
// time and reading their replies before it sends the next batch. ns/op is per command; allocs/op
// counts the server's and the clients' allocations together (the clients allocate
// nothing per command).
func benchServe(b *testing.B, clients, pipeline int, args ...string) {
	st := store.New(1 << 20)
	s, err := New(Config{Replication: Standalone{}, ProtoMaxBulkLen: 1 << 20}, st, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	s.SetView(testView(b, "p0-i0"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			b.Error(err)
		}
	}()
	if _, err := st.Set(nil, []byte(args[1]), make([]byte, 100), store.SetOptions{}); err != nil {
		b.Fatal(err)
	}
	req := []byte(strings.Repeat(encodeCmd(args...), pipeline))
	// Every reply to these commands is one line, or a bulk string of two lines.
	lines := pipeline
	if args[0] == "GET" {
		lines *= 2
	}
	conns := make([]net.Conn, clients)
	for i := range conns {
		if conns[i], err = net.Dial("tcp", ln.Addr().String()); err != nil {
			b.Fatal(err)
		}
		defer conns[i].Close()
	}
	batches := make(chan struct{}, 1024)
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	for _, nc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := bufio.NewReaderSize(nc, 64<<10)
			for range batches {
				if _, err := nc.Write(req); err != nil {
					errs <- err
					return
				}
				for range lines {
					line, err := br.ReadSlice('\n')
					if err != nil {
						errs <- err
						return
					}
					if line[0] == '-' {
						errs <- fmt.Errorf("error reply %q", line)
						return
					}
				}
			}
		}()
	}
	for i := 0; i < b.N; i += pipeline {
		select {
		case batches <- struct{}{}:
		case err := <-errs:
			close(batches)
			b.Fatal(err)
		}
	}
	close(batches)
	wg.Wait()
	b.StopTimer()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

func BenchmarkServeGet(b *testing.B) {
	for _, p := range []int{1, 16} {
		b.Run(fmt.Sprintf("P%d", p), func(b *testing.B) { benchServe(b, 50, p, "GET", "{k}key") })
	}
}

func BenchmarkServeSet(b *testing.B) {
	v := strings.Repeat("v", 100)
	for _, p := range []int{1, 16} {
		b.Run(fmt.Sprintf("P%d", p), func(b *testing.B) { benchServe(b, 50, p, "SET", "{k}key", v) })
	}
}
