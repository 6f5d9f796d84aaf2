package script

import (
	"math"
	"sync"

	lua "github.com/yuin/gopher-lua"
)

// math.random and math.randomseed are Redis's: its rand48 generator, one for the
// engine as Redis has one for the process, so math.randomseed(n) then math.random draws
// the numbers Redis draws.

const (
	rand48A    = 0x5DEECE66D
	rand48C    = 0xB
	rand48Mask = 1<<48 - 1
	rand48Max  = math.MaxInt32 // Redis's REDIS_LRAND48_MAX
)

func rand48Seed(seed int32) uint64 { return uint64(uint32(seed))<<16 | 0x330E }

// rand48 is the generator's state.
type rand48 struct {
	mu sync.Mutex
	x  uint64
}

// next is lrand48: the state advanced, its 31 high bits.
func (r *rand48) next() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.x = (rand48A*r.x + rand48C) & rand48Mask
	return int64(r.x >> 17)
}

func (r *rand48) seed(seed int32) {
	r.mu.Lock()
	r.x = rand48Seed(seed)
	r.mu.Unlock()
}

func (v *vm) mathRandom(L *lua.LState) int {
	r := float64(v.e.rand.next()%rand48Max) / rand48Max
	switch L.GetTop() {
	case 0:
		L.Push(lua.LNumber(r))
	case 1:
		u := L.CheckInt(1)
		if u < 1 {
			L.ArgError(1, "interval is empty")
		}
		L.Push(lua.LNumber(math.Floor(r*float64(u)) + 1))
	case 2:
		l, u := L.CheckInt(1), L.CheckInt(2)
		if l > u {
			L.ArgError(2, "interval is empty")
		}
		L.Push(lua.LNumber(math.Floor(r*float64(u-l+1)) + float64(l)))
	default:
		L.RaiseError("wrong number of arguments")
	}
	return 1
}

func (v *vm) mathRandomSeed(L *lua.LState) int {
	v.e.rand.seed(int32(L.CheckInt(1)))
	return 0
}
