// Package slots maps keys to the 16384 Redis Cluster hash slots (CRC16/XMODEM of the key
// or of its {hash tag}) and splits the slot space into contiguous ranges. It is pure
// computation and must not depend on the network, the store or etcd.
package slots

import (
	"bytes"
	"fmt"
	"math"
)

// Count is the number of hash slots in a Redis Cluster keyspace.
const Count = 16384

// crcTable is the CRC of each byte value; crcTable2 the CRC of each byte value followed by
// a zero byte, so two bytes are folded per step (slicing by 2).
var crcTable, crcTable2 [256]uint16

func init() {
	// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, the variant Redis uses.
	for i := range 256 {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		crcTable[i] = crc
	}
	for i := range 256 {
		c := crcTable[i]
		crcTable2[i] = c<<8 ^ crcTable[c>>8]
	}
}

// CRC16 is the checksum Redis Cluster uses for key slots.
func CRC16(b []byte) uint16 {
	var crc uint16
	// Two bytes a step: the CRC is linear, so the state XORed with the next two bytes
	// splits into a high byte (that goes through two more bytes) and a low one.
	for len(b) >= 2 {
		x := crc ^ uint16(b[0])<<8 ^ uint16(b[1])
		crc = crcTable2[x>>8] ^ crcTable[byte(x)]
		b = b[2:]
	}
	if len(b) == 1 {
		crc = crc<<8 ^ crcTable[byte(crc>>8)^b[0]]
	}
	return crc
}

// Of returns the slot of key: only the part between the first '{' and the next '}' is
// hashed when that part is not empty, so related keys can share a slot.
func Of(key []byte) int {
	if i := bytes.IndexByte(key, '{'); i >= 0 {
		if j := bytes.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int(CRC16(key) & (Count - 1))
}

// OfString is Of for a string key.
func OfString(key string) int { return Of([]byte(key)) }

// Range is an inclusive range of slots, [Start, End].
type Range struct {
	Start, End int
}

// Len is the number of slots in r.
func (r Range) Len() int { return r.End - r.Start + 1 }

func (r Range) String() string {
	if r.Start == r.End {
		return fmt.Sprint(r.Start)
	}
	return fmt.Sprintf("%d-%d", r.Start, r.End)
}

// Balanced splits the slot space into n contiguous ranges whose sizes differ by at most
// one, computed exactly as redis-cli --cluster create does (3 partitions: 0-5460,
// 5461-10922, 10923-16383), so users see the layout they know from Redis.
func Balanced(n int) ([]Range, error) {
	if n < 1 || n > Count {
		return nil, fmt.Errorf("partition count %d: must be between 1 and %d", n, Count)
	}
	out := make([]Range, n)
	per := float64(Count) / float64(n)
	cursor := 0.0
	first := 0
	for i := range n {
		last := int(math.Round(cursor + per - 1))
		if last > Count-1 || i == n-1 {
			last = Count - 1
		}
		if last < first {
			last = first
		}
		out[i] = Range{Start: first, End: last}
		first = last + 1
		cursor += per
	}
	return out, nil
}
