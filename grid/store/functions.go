package store

import (
	"fmt"
	"sync"
)

// Functions: the instance's Redis function libraries (FUNCTION LOAD), which the store
// keeps as one opaque blob that the server encodes, so that they replicate with the data:
// every change journals the whole blob as one opFunctions, a snapshot starts with it, and
// a replica hands what it applies to the hook OnFunctions set. They belong to no slot;
// the operation goes on slot 0's stream, straight to the sink (never into a unit).

// opFunctions: blob: the instance's function libraries are now this.
const opFunctions byte = 41

type functions struct {
	mu    sync.Mutex
	blob  []byte
	apply func(blob []byte) // OnFunctions's hook
}

// SetFunctions replaces the function libraries with blob (nil: none) and journals it.
func (s *Store) SetFunctions(blob []byte) {
	if len(blob) == 0 {
		blob = nil
	} else {
		blob = cloneBytes(blob)
	}
	sl := &s.slots[0]
	sl.mu.Lock() // orders it with slot 0's journal, which the snapshot reads under this lock
	s.funcs.mu.Lock()
	s.funcs.blob = blob
	s.funcs.mu.Unlock()
	if s.tx.sink != nil {
		s.tx.sink.Record(0, appendBytes([]byte{opFunctions}, blob))
	}
	sl.mu.Unlock()
}

// Functions is the function libraries' blob (nil: none); the caller must not change it.
func (s *Store) Functions() []byte {
	s.funcs.mu.Lock()
	defer s.funcs.mu.Unlock()
	return s.funcs.blob
}

// OnFunctions makes a replica call apply with the blob of every opFunctions it applies,
// and with nil when Reset empties it. Call it before the store is shared.
func (s *Store) OnFunctions(apply func(blob []byte)) { s.funcs.apply = apply }

// applyFunctions replays an opFunctions.
func (s *Store) applyFunctions(body []byte) error {
	r := &opReader{b: body}
	blob := r.bytes()
	if r.err != nil || len(r.b) != 0 {
		return fmt.Errorf("%w: function libraries", ErrBadOp)
	}
	if len(blob) == 0 {
		s.setFunctionsApplied(nil)
		return nil
	}
	s.setFunctionsApplied(cloneBytes(blob))
	return nil
}

func (s *Store) setFunctionsApplied(blob []byte) {
	s.funcs.mu.Lock()
	s.funcs.blob = blob
	apply := s.funcs.apply
	s.funcs.mu.Unlock()
	if apply != nil {
		apply(blob)
	}
}

// dumpFunctions gives a snapshot's opFunctions to fn, when there are libraries.
func (s *Store) dumpFunctions(fn func(op []byte)) {
	if blob := s.Functions(); len(blob) > 0 {
		fn(appendBytes([]byte{opFunctions}, blob))
	}
}

// FunctionsOf is the blob of op when op is the function libraries' operation (as a
// snapshot carries it): ok is false for any other operation.
func FunctionsOf(op []byte) (blob []byte, ok bool, err error) {
	if len(op) == 0 || op[0] != opFunctions {
		return nil, false, nil
	}
	r := &opReader{b: op[1:]}
	blob = r.bytes()
	if r.err != nil || len(r.b) != 0 {
		return nil, false, fmt.Errorf("%w: function libraries", ErrBadOp)
	}
	return cloneBytes(blob), true, nil
}
