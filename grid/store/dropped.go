package store

import "sync/atomic"

// DropHook is told of every key the store removes on its own: the expiry cycle's
// deletions and evictions. A command's deletions are not reported (its caller knows
// them). It is called with the key's slot locked, so it must not call the store; key
// aliases the record being removed and must be copied to be kept.
type DropHook func(slot int, key []byte)

// dropHook holds the DropHook SetDropHook gave.
type dropHook struct{ f atomic.Pointer[DropHook] }

// SetDropHook makes f the store's DropHook (nil: none).
func (s *Store) SetDropHook(f DropHook) {
	if f == nil {
		s.dropped.f.Store(nil)
		return
	}
	s.dropped.f.Store(&f)
}

// reportDrop tells the DropHook, if any, that key of sl is being removed.
func (s *Store) reportDrop(sl *slot, key []byte) {
	if f := s.dropped.f.Load(); f != nil {
		(*f)(int(sl.idx), key)
	}
}
