package acl

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
)

// The reasons a rule is refused, in Redis's words.
const (
	ReasonSyntax       = "Syntax error"
	ReasonUnknown      = "Unknown command or category name in ACL"
	ReasonBadHash      = "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
	ReasonNoSuchPass   = "The password you are trying to remove from the user does not exist"
	ReasonAfterAllKeys = "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns"
	ReasonAfterAllChan = "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels"
	// The grid's own refusals: what Redis 7.0 has and the grid does not.
	ReasonSelectors = "Selectors are not supported by the grid: give the rules without parentheses"
	ReasonFirstArg  = "Allowing the first argument of a command (as in '+select|0') is not supported by the grid: allow the whole command or one of its subcommands"
)

// RuleError is a rule that could not be applied.
type RuleError struct {
	Rule, Reason string
}

func (e *RuleError) Error() string {
	return "Error in ACL SETUSER modifier '" + e.Rule + "': " + e.Reason
}

// Permission is what a key pattern lets a user do with the keys it matches.
type Permission uint8

// Key permissions: read (%R~), write (%W~), or both (~).
const (
	PermRead Permission = 1 << iota
	PermWrite
	PermAll = PermRead | PermWrite
)

// KeyPattern is a glob-style pattern of key names and what it allows.
type KeyPattern struct {
	Pattern string
	Perm    Permission
}

func (p KeyPattern) String() string {
	switch p.Perm {
	case PermRead:
		return "%R~" + p.Pattern
	case PermWrite:
		return "%W~" + p.Pattern
	}
	return "~" + p.Pattern
}

// User is one ACL user. A User is immutable once built: a change makes a new one
// (Users.Set), which the connections authenticated as the user see from their next command.
type User struct {
	Name                   string
	enabled, noPass        bool
	sanitize, skipSanitize bool
	passwords              []string // SHA-256 hex digests, in the order added

	catalog  *Catalog
	allowed  bitmap
	future   bool     // +@all: commands not in the catalog are allowed too
	rules    []string // the command rules after the +@all/-@all base, normalised
	allKeys  bool
	keys     []KeyPattern
	allChans bool
	channels []string

	unrestricted bool // every command, key and channel: the checks are skipped
}

// NewUser returns a user as ACL SETUSER creates one: off, no passwords, no keys, no
// channels, no commands.
func NewUser(name string, cat *Catalog) *User {
	return &User{Name: name, catalog: cat, allowed: newBitmap(cat.Len())}
}

// ValidName reports whether name may name a user (no spaces or NUL, as Redis requires).
func ValidName(name string) bool { return !strings.ContainsAny(name, " \x00") }

// clone copies u for a change.
func (u *User) clone() *User {
	n := *u
	n.passwords = slices.Clone(u.passwords)
	n.allowed = slices.Clone(u.allowed)
	n.rules = slices.Clone(u.rules)
	n.keys = slices.Clone(u.keys)
	n.channels = slices.Clone(u.channels)
	return &n
}

// With returns a copy of u with rules applied in order; u is unchanged. The first rule
// that cannot be applied is returned as a *RuleError and nothing is applied.
func (u *User) With(rules ...string) (*User, error) {
	n := u.clone()
	for _, r := range rules {
		if err := n.apply(r); err != nil {
			return nil, err
		}
	}
	n.unrestricted = n.allKeys && n.allChans && n.allCommands()
	return n, nil
}

func (u *User) allCommands() bool {
	for id := range u.catalog.Len() {
		if !u.allowed.has(id) {
			return false
		}
	}
	return true
}

// HashPassword is the SHA-256 hex digest Redis stores for a password.
func HashPassword(pass string) string {
	sum := sha256.Sum256([]byte(pass))
	return hex.EncodeToString(sum[:])
}

func validHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for _, ch := range h {
		if (ch < '0' || ch > '9') && (ch < 'a' || ch > 'f') {
			return false
		}
	}
	return true
}

func (u *User) apply(rule string) error {
	fail := func(reason string) error { return &RuleError{Rule: rule, Reason: reason} }
	switch strings.ToLower(rule) {
	case "on":
		u.enabled = true
		return nil
	case "off":
		u.enabled = false
		return nil
	case "nopass":
		u.noPass, u.passwords = true, nil
		return nil
	case "resetpass":
		u.noPass, u.passwords = false, nil
		return nil
	case "allkeys":
		u.allKeys, u.keys = true, nil
		return nil
	case "resetkeys":
		u.allKeys, u.keys = false, nil
		return nil
	case "allchannels":
		u.allChans, u.channels = true, nil
		return nil
	case "resetchannels":
		u.allChans, u.channels = false, nil
		return nil
	case "allcommands", "+@all":
		u.setAll(true)
		return nil
	case "nocommands", "-@all":
		u.setAll(false)
		return nil
	case "sanitize-payload":
		u.sanitize, u.skipSanitize = true, false
		return nil
	case "skip-sanitize-payload":
		u.sanitize, u.skipSanitize = false, true
		return nil
	case "clearselectors":
		return nil // the grid has no selectors: nothing to clear
	case "reset":
		for _, r := range []string{"resetpass", "resetkeys", "resetchannels", "off", "sanitize-payload", "-@all"} {
			_ = u.apply(r)
		}
		return nil
	}
	if rule == "" {
		return fail(ReasonSyntax)
	}
	switch rule[0] {
	case '>':
		u.addPassword(HashPassword(rule[1:]))
	case '#':
		if !validHash(rule[1:]) {
			return fail(ReasonBadHash)
		}
		u.addPassword(rule[1:])
	case '<', '!':
		h := rule[1:]
		if rule[0] == '<' {
			h = HashPassword(h)
		} else if !validHash(h) {
			return fail(ReasonBadHash)
		}
		i := slices.Index(u.passwords, h)
		if i < 0 {
			return fail(ReasonNoSuchPass)
		}
		u.passwords = slices.Delete(u.passwords, i, i+1)
	case '~', '%':
		return u.addKeyPattern(rule, fail)
	case '&':
		if u.allChans {
			return fail(ReasonAfterAllChan)
		}
		switch ch := rule[1:]; {
		case ch == "*":
			u.allChans, u.channels = true, nil
		case !slices.Contains(u.channels, ch):
			u.channels = append(u.channels, ch)
		}
	case '+', '-':
		return u.applyCommandRule(rule, fail)
	case '(':
		return fail(ReasonSelectors)
	default:
		return fail(ReasonSyntax)
	}
	return nil
}

func (u *User) addPassword(h string) {
	u.noPass = false
	if !slices.Contains(u.passwords, h) {
		u.passwords = append(u.passwords, h)
	}
}

// addKeyPattern applies ~pattern or %<R|W|RW>~pattern as Redis 7.0 does: ~* (all
// permissions) is allkeys; a pattern given again gains the new permissions.
func (u *User) addKeyPattern(rule string, fail func(string) error) error {
	if u.allKeys {
		return fail(ReasonAfterAllKeys)
	}
	perm, off := PermAll, 1
	if rule[0] == '%' {
		perm = 0
		for ; off < len(rule); off++ {
			ch := rule[off]
			switch {
			case (ch == 'R' || ch == 'r') && perm&PermRead == 0:
				perm |= PermRead
				continue
			case (ch == 'W' || ch == 'w') && perm&PermWrite == 0:
				perm |= PermWrite
				continue
			case ch == '~':
				off++
			default:
				return fail(ReasonSyntax)
			}
			break
		}
		if perm == 0 {
			return fail(ReasonSyntax)
		}
	}
	pat := rule[min(off, len(rule)):]
	if pat == "*" && perm == PermAll {
		u.allKeys, u.keys = true, nil
		return nil
	}
	for i := range u.keys {
		if u.keys[i].Pattern == pat {
			u.keys[i].Perm |= perm
			return nil
		}
	}
	u.keys = append(u.keys, KeyPattern{Pattern: pat, Perm: perm})
	return nil
}

func (u *User) setAll(on bool) {
	for i := range u.allowed {
		u.allowed[i] = 0
		if on {
			u.allowed[i] = ^uint64(0)
		}
	}
	u.future, u.rules = on, nil
}

// applyCommandRule applies +cmd, -cmd, +cmd|sub, -cmd|sub, +@category or -@category.
func (u *User) applyCommandRule(rule string, fail func(string) error) error {
	allow := rule[0] == '+'
	name := strings.ToLower(rule[1:])
	if strings.HasPrefix(name, "@") {
		cat, ok := ParseCategory(name[1:])
		if !ok {
			return fail(ReasonUnknown)
		}
		for _, cmd := range u.catalog.all {
			if cmd.Categories&cat != 0 {
				u.allowed.set(cmd.ID, allow)
			}
		}
		u.noteRule(rule[0], name)
		return nil
	}
	cmd := u.catalog.Lookup(name)
	if cmd == nil {
		if parent, _, ok := strings.Cut(name, "|"); ok {
			if p := u.catalog.Lookup(parent); p != nil && len(p.Subs) == 0 && allow {
				return fail(ReasonFirstArg)
			}
		}
		return fail(ReasonUnknown)
	}
	u.allowed.set(cmd.ID, allow)
	for _, sub := range cmd.Subs {
		u.allowed.set(sub.ID, allow)
	}
	u.noteRule(rule[0], cmd.Name)
	return nil
}

// noteRule records a command rule for the description, as Redis 7.2 keeps them: a rule
// given again (either sign) moves to the end, and a command's rule drops its
// subcommands' earlier ones.
func (u *User) noteRule(sign byte, name string) {
	u.rules = slices.DeleteFunc(u.rules, func(r string) bool {
		return r[1:] == name || strings.HasPrefix(r[1:], name+"|")
	})
	u.rules = append(u.rules, string(sign)+name)
}
