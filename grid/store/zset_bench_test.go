package store

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"testing"
)

// BenchmarkZAddRandom adds or updates one member at a time as redis-benchmark's zadd test
// does with -r 100000: a random member of 100,000 ("element:<n>") at a random score, into
// one sorted set filled (off the clock) with all of them first.
func BenchmarkZAddRandom(b *testing.B) {
	s, _ := newTestStore()
	key := []byte("myzset")
	rng := rand.New(rand.NewPCG(1, 2))
	fill := make([][]byte, 100_000)
	scores := make([]float64, len(fill))
	for i := range fill {
		fill[i] = strconv.AppendInt([]byte("element:"), int64(i), 10)
		scores[i] = float64(rng.IntN(100_000))
	}
	if _, err := s.ZAdd(key, ZAddFlags{}, fill, scores); err != nil {
		b.Fatal(err)
	}
	m := [][]byte{make([]byte, 0, 32)}
	sc := []float64{0}
	b.ReportAllocs()
	for b.Loop() {
		m[0] = strconv.AppendInt(append(m[0][:0], "element:"...), int64(rng.IntN(100_000)), 10)
		sc[0] = float64(rng.IntN(100_000))
		if _, err := s.ZAdd(key, ZAddFlags{}, m, sc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkZAddSmall updates one member of a 64-member sorted set (a listpack).
func BenchmarkZAddSmall(b *testing.B) {
	s, _ := newTestStore()
	key := []byte("z")
	for i := range 64 {
		if _, err := s.ZAdd(key, ZAddFlags{}, [][]byte{strconv.AppendInt([]byte("m:"), int64(i), 10)}, []float64{float64(i)}); err != nil {
			b.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	m := [][]byte{make([]byte, 0, 32)}
	sc := []float64{0}
	b.ReportAllocs()
	for b.Loop() {
		m[0] = strconv.AppendInt(append(m[0][:0], "m:"...), int64(rng.IntN(64)), 10)
		sc[0] = float64(rng.IntN(1000))
		if _, err := s.ZAdd(key, ZAddFlags{}, m, sc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkZPopMin pops the lowest member of a 100,000-member sorted set, refilled (off
// the clock) when it runs empty.
func BenchmarkZPopMin(b *testing.B) {
	s, _ := newTestStore()
	key := []byte("myzset")
	fill := make([][]byte, 100_000)
	scores := make([]float64, len(fill))
	for i := range fill {
		fill[i] = strconv.AppendInt([]byte("element:"), int64(i), 10)
		scores[i] = float64(i)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if i%len(fill) == 0 {
			b.StopTimer()
			if _, err := s.ZAdd(key, ZAddFlags{}, fill, scores); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		if _, _, err := s.ZPop(key, false, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHSetRandom sets one random field of 100,000 ("element:<n>") to a 100-byte
// value, as redis-benchmark's hset test does with -r 100000 -d 100.
func BenchmarkHSetRandom(b *testing.B) {
	s, _ := newTestStore()
	key := []byte("myhash")
	v := bytes.Repeat([]byte{'x'}, 100)
	fv := make([][]byte, 0, 200_000)
	for i := range 100_000 {
		fv = append(fv, strconv.AppendInt([]byte("element:"), int64(i), 10), v)
	}
	if _, err := s.HSet(key, fv); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	arg := [][]byte{make([]byte, 0, 32), v}
	b.ReportAllocs()
	for b.Loop() {
		arg[0] = strconv.AppendInt(append(arg[0][:0], "element:"...), int64(rng.IntN(100_000)), 10)
		if _, err := s.HSet(key, arg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSAddRandom adds one random member of 100,000 ("element:<n>") to a set.
func BenchmarkSAddRandom(b *testing.B) {
	s, _ := newTestStore()
	key := []byte("myset")
	rng := rand.New(rand.NewPCG(1, 2))
	m := [][]byte{make([]byte, 0, 32)}
	b.ReportAllocs()
	for b.Loop() {
		m[0] = strconv.AppendInt(append(m[0][:0], "element:"...), int64(rng.IntN(100_000)), 10)
		if _, err := s.SAdd(key, m); err != nil {
			b.Fatal(err)
		}
	}
}
