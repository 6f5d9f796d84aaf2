package store

import (
	"bytes"
	"strconv"
	"testing"
)

// benchList fills key with n elements of 100 bytes, as redis-benchmark's list tests use.
func benchList(b *testing.B, s *Store, key []byte, n int) {
	b.Helper()
	elems := make([][]byte, n)
	for i := range elems {
		elems[i] = bytes.Repeat([]byte{byte('a' + i%26)}, 100)
	}
	if _, err := s.Push(key, elems, false, false); err != nil {
		b.Fatal(err)
	}
}

// benchPop pops one element at a time from one end of a 10,000-element list, refilling it
// (off the clock) when it runs empty.
func benchPop(b *testing.B, left bool) {
	s, _ := newTestStore()
	key := []byte("list")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if i%10_000 == 0 {
			b.StopTimer()
			s.Del(key)
			benchList(b, s, key, 10_000)
			b.StartTimer()
		}
		if _, _, err := s.Pop(key, left, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkListPopRight(b *testing.B) { benchPop(b, false) }
func BenchmarkListPopLeft(b *testing.B)  { benchPop(b, true) }

// BenchmarkLRange100 writes LRANGE 0 99 of a 10,000-element list into a reused reply
// buffer, as the server does.
func BenchmarkLRange100(b *testing.B) {
	s, _ := newTestStore()
	key := []byte("list")
	benchList(b, s, key, 10_000)
	buf := make([]byte, 0, 16<<10)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = buf[:0]
		err := s.LRangeEach(key, 0, 99, func(n int) {
			buf = strconv.AppendInt(append(buf, '*'), int64(n), 10)
		}, func(e []byte) {
			buf = strconv.AppendInt(append(buf, '$'), int64(len(e)), 10)
			buf = append(append(buf, e...), '\r', '\n')
		})
		if err != nil || len(buf) < 100*100 {
			b.Fatal(len(buf), err)
		}
	}
}

// BenchmarkListPopOne pops (LPOP without a count) into a reused buffer, as the server does.
func BenchmarkListPopOne(b *testing.B) {
	s, _ := newTestStore()
	key := []byte("list")
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if i%10_000 == 0 {
			b.StopTimer()
			s.Del(key)
			benchList(b, s, key, 10_000)
			b.StartTimer()
		}
		var err error
		if buf, _, err = s.PopOne(buf[:0], key, i%2 == 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListPushLeft pushes one 100-byte element at a time at the head (LPUSH), the list
// emptied (off the clock) every 10,000 pushes.
func BenchmarkListPushLeft(b *testing.B) {
	s, _ := newTestStore()
	key := []byte("list")
	elem := [][]byte{bytes.Repeat([]byte{'v'}, 100)}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if i%10_000 == 0 {
			b.StopTimer()
			s.Del(key)
			b.StartTimer()
		}
		if _, err := s.Push(key, elem, true, false); err != nil {
			b.Fatal(err)
		}
	}
}
