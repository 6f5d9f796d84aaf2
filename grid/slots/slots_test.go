package slots

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestCRC16(t *testing.T) {
	// The check value of CRC16/XMODEM, quoted in the Redis Cluster specification.
	if got := CRC16([]byte("123456789")); got != 0x31C3 {
		t.Fatalf("CRC16(123456789) = %#04x, want 0x31c3", got)
	}
}

func TestOf(t *testing.T) {
	// Values from redis-server's CLUSTER KEYSLOT and the cluster specification.
	tests := []struct {
		key  string
		want int
	}{
		{"foo", 12182},
		{"bar", 5061},
		{"somekey", 11058},
		{"hello", 866},
		{"123456789", 12739},
		{"{user1000}.following", 3443},
		{"{user1000}.followers", 3443},
		{"user1000", 3443},
		{"foo{}{bar}", OfString("foo{}{bar}")},
		{"{}foo", OfString("{}foo")},
		{"foo{{bar}}zap", OfString("{bar")},
		{"foo{bar}{zap}", OfString("bar")},
		{"{bar", OfString("{bar")},
		{"", 0},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := OfString(tt.key); got != tt.want {
				t.Fatalf("Of(%q) = %d, want %d", tt.key, got, tt.want)
			}
		})
	}
	// An empty tag hashes the whole key, so these two differ from the empty-key slot.
	if OfString("foo{}{bar}") == OfString("bar") {
		t.Fatal("empty hash tag must hash the whole key")
	}
}

func TestBalanced(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{
		{1, "[0-16383]"},
		{2, "[0-8191 8192-16383]"},
		{3, "[0-5460 5461-10922 10923-16383]"},
		{16384, ""},
	}
	for _, tt := range tests {
		got, err := Balanced(tt.n)
		if err != nil {
			t.Fatal(err)
		}
		if tt.want != "" && fmt.Sprint(got) != tt.want {
			t.Errorf("Balanced(%d) = %v, want %s", tt.n, got, tt.want)
		}
		total := 0
		for i, r := range got {
			total += r.Len()
			if i > 0 && r.Start != got[i-1].End+1 {
				t.Errorf("Balanced(%d): gap before %v", tt.n, r)
			}
		}
		if total != Count {
			t.Errorf("Balanced(%d) covers %d slots", tt.n, total)
		}
	}
	for _, n := range []int{0, -1, Count + 1} {
		if _, err := Balanced(n); err == nil {
			t.Errorf("Balanced(%d): want error", n)
		}
	}
}

// crc16Bytewise is the CRC16 a byte at a time, as Redis's crc16.c computes it.
func crc16Bytewise(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc = crc<<8 ^ crcTable[byte(crc>>8)^c]
	}
	return crc
}

// ofReference is the slot rule as Redis's keyHashSlot states it, a byte at a time.
func ofReference(key []byte) int {
	for i, c := range key {
		if c == '{' {
			for j := i + 1; j < len(key); j++ {
				if key[j] == '}' {
					if j > i+1 {
						key = key[i+1 : j]
					}
					return int(crc16Bytewise(key) & (Count - 1))
				}
			}
			break
		}
	}
	return int(crc16Bytewise(key) & (Count - 1))
}

func TestCRC16AndOfMatchTheBytewiseRule(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("{}ab{}")
	for n := range 20000 {
		key := make([]byte, n%40)
		for i := range key {
			if n%2 == 0 {
				key[i] = alphabet[rng.IntN(len(alphabet))] // braces in every position
			} else {
				key[i] = byte(rng.IntN(256))
			}
		}
		if got, want := CRC16(key), crc16Bytewise(key); got != want {
			t.Fatalf("CRC16(%q) = %#04x, want %#04x", key, got, want)
		}
		if got, want := Of(key), ofReference(key); got != want {
			t.Fatalf("Of(%q) = %d, want %d", key, got, want)
		}
	}
}

func BenchmarkOf(b *testing.B) {
	key := []byte("key:{06S}:000000012345")
	for b.Loop() {
		Of(key)
	}
}
