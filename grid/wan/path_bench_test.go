package wan

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"testing"
)

// BenchmarkBatchPath is the CPU of each step a batch of 2048 SETs of 64 bytes takes from
// the source's primary to the target's (the HTTP transport aside), per key: the pull,
// the pull's answer (indented JSON, as httpjson writes it) decoded by the gateway, the
// batch to the sink (gzip JSON), the sink's apply request to the target's primary
// (JSON), and the apply.
func BenchmarkBatchPath(b *testing.B) {
	const n = 2048
	src := newSite(b, "a", func(c *Config) { c.OutboxMax = 1 << 20 }, "b")
	val := bytes.Repeat([]byte("v"), 64)
	for i := range n {
		src.set(b, fmt.Sprintf("bench:r0:%d:%d", i%32, i), string(val))
	}
	batch, err := src.tr.Pull("b", n, src.rec)
	if err != nil || len(batch.Changes) != n {
		b.Fatalf("pulled %d changes, %v", len(batch.Changes), err)
	}
	perKey := func(b *testing.B) { b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/key") }
	b.Run("pull", func(b *testing.B) {
		for b.Loop() {
			if _, err := src.tr.Pull("b", n, src.rec); err != nil {
				b.Fatal(err)
			}
		}
		perKey(b)
	})
	b.Run("pull-answer-json", func(b *testing.B) {
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			enc := json.NewEncoder(&buf)
			enc.SetIndent("", "  ")
			if err := enc.Encode(batch); err != nil {
				b.Fatal(err)
			}
			var out Batch
			if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
				b.Fatal(err)
			}
		}
		perKey(b)
		b.ReportMetric(float64(buf.Len())/n, "bytes/key")
	})
	b.Run("send-gzip-json", func(b *testing.B) {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		for b.Loop() {
			buf.Reset()
			zw.Reset(&buf)
			if err := json.NewEncoder(zw).Encode(batch); err != nil {
				b.Fatal(err)
			}
			if err := zw.Close(); err != nil {
				b.Fatal(err)
			}
			zr, err := gzip.NewReader(bytes.NewReader(buf.Bytes()))
			if err != nil {
				b.Fatal(err)
			}
			var out Batch
			if err := json.NewDecoder(zr).Decode(&out); err != nil {
				b.Fatal(err)
			}
		}
		perKey(b)
		b.ReportMetric(float64(buf.Len())/n, "bytes/key")
	})
	b.Run("pull-answer-binary", func(b *testing.B) {
		var fb []byte
		for b.Loop() {
			fb = AppendBatch(fb[:0], &batch)
			if _, err := DecodeBatch(fb); err != nil {
				b.Fatal(err)
			}
		}
		perKey(b)
		b.ReportMetric(float64(len(fb))/n, "bytes/key")
	})
	b.Run("send-gzip-binary", func(b *testing.B) {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		for b.Loop() {
			buf.Reset()
			zw.Reset(&buf)
			if _, err := zw.Write(AppendBatch(nil, &batch)); err != nil {
				b.Fatal(err)
			}
			if err := zw.Close(); err != nil {
				b.Fatal(err)
			}
			zr, err := gzip.NewReader(bytes.NewReader(buf.Bytes()))
			if err != nil {
				b.Fatal(err)
			}
			data, err := io.ReadAll(zr)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := DecodeBatch(data); err != nil {
				b.Fatal(err)
			}
		}
		perKey(b)
		b.ReportMetric(float64(buf.Len())/n, "bytes/key")
	})
	b.Run("apply-request-json", func(b *testing.B) {
		for b.Loop() {
			body, err := json.Marshal(map[string]any{"changes": batch.Changes, "policies": batch.Policies})
			if err != nil {
				b.Fatal(err)
			}
			var req struct {
				Changes  []Change `json:"changes"`
				Policies string   `json:"policies"`
			}
			if err := json.Unmarshal(body, &req); err != nil {
				b.Fatal(err)
			}
		}
		perKey(b)
	})
	b.Run("apply", func(b *testing.B) {
		dst := newSite(b, "b", func(c *Config) { c.OutboxMax = 1 << 20 }, "a")
		for i := 0; b.Loop(); i++ {
			for _, c := range batch.Changes {
				c.HLC += uint64(i) // newer each round: applied, not stale
				if _, err := dst.tr.ApplyRemote(c, exclusive, dst.rec); err != nil {
					b.Fatal(err)
				}
			}
		}
		perKey(b)
	})
}
