package slots

import (
	"fmt"
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

func BenchmarkOf(b *testing.B) {
	key := []byte("key:{06S}:000000012345")
	for b.Loop() {
		Of(key)
	}
}
