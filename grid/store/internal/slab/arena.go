// Package slab holds a store's records outside the Go heap: an arena of size-classed chunks
// carved from anonymous memory mappings, and open-addressing tables of 8-byte references
// that find a record by its key. The garbage collector never scans either (the mappings are
// not Go memory, the tables are pointer-free), and the arena counts exactly the bytes that
// are resident for it, so the store's used memory is a count, not an estimate.
//
// The layout follows the allocators Redis relies on (jemalloc's size classes, mimalloc's
// per-page free lists): a chunk is taken from a page of its class, a freed chunk goes back
// to its page's free list, and a page whose last chunk is freed is given back to the
// kernel (MADV_DONTNEED). Records larger than MaxSmall get a mapping of their own.
//
// The package knows one thing about a record's contents: it starts with a flags byte, the
// key's length as an unsigned varint and the key, so a table can compare keys. It must not
// depend on the store's types, the network or etcd.
package slab

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
)

const (
	pageShift  = 18 // a class page is 256 KiB
	pageSize   = 1 << pageShift
	unitShift  = 4 // chunk offsets are counted in 16-byte units
	osPage     = 4096
	regionSize = 64 * pageSize // class pages are carved from 16 MiB mappings
	dirBits    = 12

	// MaxSmall is the largest record kept in a class page; larger ones get their own mapping.
	MaxSmall = 64 << 10
)

// ErrNoMemory reports that the kernel refused a mapping.
var ErrNoMemory = errors.New("out of memory: the kernel refused a mapping")

// classSizes are the chunk sizes: every 16 bytes up to 256, then eight classes per doubling
// (so a chunk wastes at most 1/8 of its size above 256 bytes), up to MaxSmall.
var classSizes = func() []uint32 {
	var out []uint32
	for s := uint32(16); s <= 256; s += 16 {
		out = append(out, s)
	}
	for base := uint32(256); base < MaxSmall; base *= 2 {
		for i := uint32(1); i <= 8; i++ {
			out = append(out, base+i*base/8)
		}
	}
	return out
}()

// smallClass maps (n+15)/16 to the class index for n up to 256.
var smallClass = func() [17]uint8 {
	var t [17]uint8
	for i := range t {
		for c, s := range classSizes {
			if s >= uint32(i*16) {
				t[i] = uint8(c)
				break
			}
		}
	}
	return t
}()

func classOf(n int) int {
	if n <= 256 {
		return int(smallClass[(n+15)>>4])
	}
	lo, hi := int(smallClass[16]), len(classSizes)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if int(classSizes[mid]) >= n {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// ChunkSize is the bytes a record of n bytes occupies in the arena.
func ChunkSize(n int) int {
	if n > MaxSmall {
		return (n + osPage - 1) &^ (osPage - 1)
	}
	return int(classSizes[classOf(n)])
}

// Ref locates a chunk: its page id shifted left by 16 and its offset in 16-byte units.
// Only the low 40 bits are used; 0 is no chunk.
type Ref uint64

const refBits = 40

func makeRef(page, off uint32) Ref { return Ref(page)<<16 | Ref(off>>unitShift) }

func (r Ref) page() uint32 { return uint32(r >> 16) }
func (r Ref) off() uint32  { return uint32(r&0xffff) << unitShift }

type page struct {
	mem     []byte
	size    uint32 // chunk size; for a large record, its mapping's size
	class   int16  // -1: a large record's own mapping
	bump    uint32 // bytes handed out fresh from the start of the page
	free    uint32 // 1 + offset of the first freed chunk; 0: none
	live    uint32 // chunks in use
	touched uint32 // bytes of the page made resident: bump rounded up to whole OS pages
	avail   int32  // index in its class's list of pages with room; -1: not there
}

// Arena hands out chunks. Its methods are safe for concurrent use; a chunk's bytes belong
// to whoever holds its Ref, and readers of a chunk must be ordered after its writer by the
// caller's own locking.
type Arena struct {
	mu      sync.Mutex
	dir     [1 << dirBits]*[1 << dirBits]page
	next    uint32   // the next page id never used
	spare   []uint32 // class pages given back to the kernel, mapping kept for reuse
	ids     []uint32 // ids of large records' pages that were unmapped
	avail   [][]uint32
	region  []byte // the mapping class pages are carved from
	regions int64

	resident atomic.Int64 // bytes of chunks' pages made resident, large mappings included
	live     atomic.Int64 // bytes of chunks in use
	index    atomic.Int64 // bytes of the tables that point into this arena
}

// NewArena returns an empty arena.
func NewArena() *Arena {
	return &Arena{next: 1, avail: make([][]uint32, len(classSizes))}
}

// Resident is the bytes the arena's chunks keep resident: the touched part of every class
// page plus every large mapping.
func (a *Arena) Resident() int64 { return a.resident.Load() }

// Live is the bytes of the chunks in use.
func (a *Arena) Live() int64 { return a.live.Load() }

// IndexBytes is the bytes held by the tables that point into the arena.
func (a *Arena) IndexBytes() int64 { return a.index.Load() }

// Mapped is the virtual memory reserved for class pages (resident or not).
func (a *Arena) Mapped() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.regions * regionSize
}

func (a *Arena) pg(id uint32) *page { return &a.dir[id>>dirBits][id&(1<<dirBits-1)] }

// Bytes returns the chunk at r, as long as the chunk's size.
func (a *Arena) Bytes(r Ref) []byte {
	p := a.pg(r.page())
	off := r.off()
	return p.mem[off : off+p.size : off+p.size]
}

// Alloc returns a chunk of at least n bytes; its contents are undefined.
func (a *Arena) Alloc(n int) (Ref, []byte, error) {
	if n > MaxSmall {
		return a.allocLarge(n)
	}
	c := classOf(n)
	size := classSizes[c]
	a.mu.Lock()
	defer a.mu.Unlock()
	var p *page
	var id uint32
	if l := a.avail[c]; len(l) > 0 {
		id = l[len(l)-1]
		p = a.pg(id)
	} else {
		var err error
		if id, p, err = a.newPage(c); err != nil {
			return 0, nil, err
		}
	}
	var off uint32
	if p.free != 0 {
		off = p.free - 1
		p.free = le32(p.mem[off:])
	} else {
		off = p.bump
		p.bump += size
		if t := (p.bump + osPage - 1) &^ (osPage - 1); t > p.touched {
			a.resident.Add(int64(t - p.touched))
			p.touched = t
		}
	}
	p.live++
	if p.free == 0 && p.bump+size > pageSize {
		a.unlist(p)
	}
	a.live.Add(int64(size))
	return makeRef(id, off), p.mem[off : off+size : off+size], nil
}

// Reuses reports whether Alloc(n) would take its chunk from memory already resident (a
// freed chunk, or the touched part of a page), so that Resident does not grow.
func (a *Arena) Reuses(n int) bool {
	if n > MaxSmall {
		return false
	}
	c := classOf(n)
	a.mu.Lock()
	defer a.mu.Unlock()
	l := a.avail[c]
	if len(l) == 0 {
		return false
	}
	p := a.pg(l[len(l)-1])
	return p.free != 0 || p.bump+classSizes[c] <= p.touched
}

// newPage starts a class page for class c and lists it as having room; a.mu is held.
func (a *Arena) newPage(c int) (uint32, *page, error) {
	var id uint32
	var mem []byte
	if n := len(a.spare); n > 0 {
		id = a.spare[n-1]
		a.spare = a.spare[:n-1]
		mem = a.pg(id).mem
	} else {
		if len(a.region) == 0 {
			r, err := mmap(regionSize)
			if err != nil {
				return 0, nil, err
			}
			a.region = r
			a.regions++
		}
		mem = a.region[:pageSize:pageSize]
		a.region = a.region[pageSize:]
		var err error
		if id, err = a.newID(); err != nil {
			return 0, nil, err
		}
	}
	p := a.pg(id)
	*p = page{mem: mem, size: classSizes[c], class: int16(c), avail: -1}
	a.list(id, p)
	return id, p, nil
}

func (a *Arena) newID() (uint32, error) {
	if n := len(a.ids); n > 0 {
		id := a.ids[n-1]
		a.ids = a.ids[:n-1]
		return id, nil
	}
	id := a.next
	if id>>dirBits >= 1<<dirBits || id >= 1<<(refBits-16) {
		return 0, fmt.Errorf("%w: more than %d pages", ErrNoMemory, 1<<(refBits-16))
	}
	if a.dir[id>>dirBits] == nil {
		a.dir[id>>dirBits] = new([1 << dirBits]page)
	}
	a.next++
	return id, nil
}

func (a *Arena) list(id uint32, p *page) {
	p.avail = int32(len(a.avail[p.class]))
	a.avail[p.class] = append(a.avail[p.class], id)
}

func (a *Arena) unlist(p *page) {
	l := a.avail[p.class]
	last := l[len(l)-1]
	l[p.avail] = last
	a.pg(last).avail = p.avail
	a.avail[p.class] = l[:len(l)-1]
	p.avail = -1
}

func (a *Arena) allocLarge(n int) (Ref, []byte, error) {
	size := ChunkSize(n)
	mem, err := mmap(size)
	if err != nil {
		return 0, nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	id, err := a.newID()
	if err != nil {
		_ = syscall.Munmap(mem)
		return 0, nil, err
	}
	*a.pg(id) = page{mem: mem, size: uint32(size), class: -1, live: 1, avail: -1}
	a.resident.Add(int64(size))
	a.live.Add(int64(size))
	return makeRef(id, 0), mem, nil
}

// Free gives the chunk at r back; r must not be used again.
func (a *Arena) Free(r Ref) {
	a.mu.Lock()
	defer a.mu.Unlock()
	id := r.page()
	p := a.pg(id)
	a.live.Add(-int64(p.size))
	if p.class < 0 {
		a.resident.Add(-int64(p.size))
		_ = syscall.Munmap(p.mem)
		*p = page{}
		a.ids = append(a.ids, id)
		return
	}
	off := r.off()
	p.live--
	put32(p.mem[off:], p.free)
	p.free = off + 1
	if p.avail < 0 {
		a.list(id, p)
	}
	// An emptied page goes back to the kernel unless it is its class's only page with room:
	// a key rewritten over and over must not cost a system call each time.
	if p.live == 0 && len(a.avail[p.class]) > 1 {
		a.release(id, p)
	}
}

// release gives an empty class page back to the kernel and keeps its mapping for reuse;
// a.mu is held.
func (a *Arena) release(id uint32, p *page) {
	if p.avail >= 0 {
		a.unlist(p)
	}
	_ = syscall.Madvise(p.mem[:p.touched], syscall.MADV_DONTNEED)
	a.resident.Add(-int64(p.touched))
	*p = page{mem: p.mem, avail: -1}
	a.spare = append(a.spare, id)
}

// Trim gives every empty page back to the kernel.
func (a *Arena) Trim() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for c := range a.avail {
		for i := len(a.avail[c]) - 1; i >= 0; i-- {
			if i >= len(a.avail[c]) {
				continue
			}
			if id := a.avail[c][i]; a.pg(id).live == 0 {
				a.release(id, a.pg(id))
			}
		}
	}
}

func mmap(n int) ([]byte, error) {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, fmt.Errorf("%w (%d bytes): %w", ErrNoMemory, n, err)
	}
	return b, nil
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func put32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}
