package store

import "fmt"

// OpKey returns the key a whole-key operation (one DumpSlot gives, Restore takes)
// recreates, as a copy; ok is false for the function libraries' operation, which
// belongs to no key. Any other operation is an error.
func OpKey(op []byte) (key []byte, ok bool, err error) {
	if len(op) > 0 && op[0] == opFunctions {
		return nil, false, nil
	}
	if len(op) == 0 || op[0] != opString && op[0] != opHash && op[0] != opSet && op[0] != opList && op[0] != opZSet && op[0] != opStream {
		return nil, false, fmt.Errorf("%w: not a whole key", ErrBadOp)
	}
	r := &opReader{b: op[1:]}
	key = r.bytes()
	if r.err != nil {
		return nil, false, r.err
	}
	return cloneBytes(key), true, nil
}
