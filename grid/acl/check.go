package acl

import (
	"crypto/subtle"

	"github.com/insightgrid/insight/grid/store"
)

// Unrestricted reports whether u may run every command on every key and channel: the
// per-command checks can be skipped.
func (u *User) Unrestricted() bool { return u.unrestricted }

// Enabled reports whether the user may authenticate (on).
func (u *User) Enabled() bool { return u.enabled }

// CheckPassword reports whether pass authenticates u: the user is on, and has nopass or
// a password hashing to one of its digests.
func (u *User) CheckPassword(pass []byte) bool {
	if !u.enabled {
		return false
	}
	if u.noPass {
		return true
	}
	h := HashPassword(string(pass))
	ok := 0
	for _, p := range u.passwords {
		ok |= subtle.ConstantTimeCompare([]byte(p), []byte(h))
	}
	return ok == 1
}

// CanRun reports whether u may run cmd (nil: a command not in the catalog, allowed only
// by +@all).
func (u *User) CanRun(cmd *Command) bool {
	if cmd == nil {
		return u.future
	}
	return u.allowed.has(cmd.ID)
}

// CanAccessKey reports whether u may access key with the given permissions (0: any
// pattern matching the key will do, as for a key spec with neither access nor write
// flags).
func (u *User) CanAccessKey(key []byte, need Permission) bool {
	if u.allKeys {
		return true
	}
	for _, p := range u.keys {
		if p.Perm&need == need && store.Match([]byte(p.Pattern), key) {
			return true
		}
	}
	return false
}

// CanAccessChannel reports whether u may use channel: a channel (SUBSCRIBE, PUBLISH) must
// match one of the user's channel patterns; a pattern (PSUBSCRIBE) must be one of them,
// literally, as Redis requires.
func (u *User) CanAccessChannel(channel []byte, isPattern bool) bool {
	if u.allChans {
		return true
	}
	for _, p := range u.channels {
		if isPattern {
			if p == string(channel) {
				return true
			}
		} else if store.Match([]byte(p), channel) {
			return true
		}
	}
	return false
}
