package repl_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkAcknowledgedSet drives a primary and its in-sync backup as ci/bench-ha.sh does:
// 50 connections over loopback TCP, each sending one SET of a 64-byte value and waiting
// for its reply, which the primary sends only once the backup has applied the write.
// ns/op is per acknowledged write, with the clients, the primary and the backup sharing
// the machine's cores; run it with -cpuprofile to see where the time goes. The instances
// have the production ReplTimeout (500ms): with the tests' 200ms a loaded machine starves
// the backup long enough for the primary to record it out of sync.
func BenchmarkAcknowledgedSet(b *testing.B) {
	const clients = 50
	_, in := startPairTimeout(b, 500*time.Millisecond)
	value := strings.Repeat("v", 64)
	conns := make([]net.Conn, clients)
	for i := range conns {
		nc, err := net.Dial("tcp", in[0].addr)
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		conns[i] = nc
	}
	writes := make(chan int, 1024)
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	b.ReportAllocs()
	io0, ok0 := procIO()
	b.ResetTimer()
	for _, nc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := bufio.NewReader(nc)
			var req []byte
			for i := range writes {
				k := fmt.Sprintf("key:%d", i%100000)
				req = fmt.Appendf(req[:0], "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(k), k, len(value), value)
				if _, err := nc.Write(req); err != nil {
					errs <- err
					return
				}
				line, err := br.ReadSlice('\n')
				if err != nil {
					errs <- err
					return
				}
				if string(line) != "+OK\r\n" {
					errs <- fmt.Errorf("SET %s: %q", k, line)
					return
				}
			}
		}()
	}
	for i := range b.N {
		select {
		case writes <- i:
		case err := <-errs:
			close(writes)
			b.Fatal(err)
		}
	}
	close(writes)
	wg.Wait()
	b.StopTimer()
	if io1, ok1 := procIO(); ok0 && ok1 {
		// The clients' calls included (two per write), and the server's: the replies, the
		// stream, the backup's reads and acknowledgements.
		b.ReportMetric(float64(io1[0]-io0[0])/float64(b.N), "reads/op")
		b.ReportMetric(float64(io1[1]-io0[1])/float64(b.N), "writes/op")
	}
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// procIO is this process's count of read and write system calls so far (Linux's
// /proc/self/io), or false where there is none.
func procIO() ([2]uint64, bool) {
	var n [2]uint64
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return n, false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		i := map[string]int{"syscr": 0, "syscw": 1}
		if j, ok := i[k]; ok {
			x, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return n, false
			}
			n[j] = x
		}
	}
	return n, true
}
