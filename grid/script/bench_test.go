package script

import (
	"context"
	"log/slog"
	"testing"

	"github.com/insightgrid/insight/grid/resp"
)

// okHost answers every command with :1, so the benchmark measures the VM's side.
type okHost struct{ w *resp.Writer }

func (h *okHost) Call([][]byte) []byte { return []byte(":1\r\n") }

func (h *okHost) Reply() *resp.Writer { return h.w }

func (h *okHost) Log(slog.Level, string) {}

// BenchmarkRunSmallScript is the VM's cost of ci/bench-script.sh's script: two calls and
// a reply.
func BenchmarkRunSmallScript(b *testing.B) {
	e := New(Limits{}, "7.0.0")
	s, err := e.Load([]byte("local n = redis.call('incr', KEYS[1]) redis.call('expire', KEYS[1], 3600) return n"))
	if err != nil {
		b.Fatal(err)
	}
	h := &okHost{w: resp.NewWriter(discardWriter{})}
	keys := [][]byte{[]byte("key:1")}
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithCancel(context.Background())
		e.Run(ctx, s, keys, nil, h)
		cancel()
		h.w.Flush()
	}
}

type discardWriter struct{}

func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
