package ui

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Purposes of the signed values: a login code cannot be used as a session and the other
// way round.
const (
	purposeLogin   = "insight-ui-login"
	purposeSession = "insight-ui-session"
	purposeCSRF    = "insight-ui-csrf"
)

// LoginTTL is how long a login code is valid; SessionTTL how long a session lasts.
const (
	LoginTTL   = time.Hour
	SessionTTL = 12 * time.Hour
)

// LoginCode is a one-time login code for the UI, signed with the operator token: GET
// /ui/login?token=CODE exchanges it for a session cookie once, before now+ttl. Whoever
// holds the operator token (insight-grid local, an operator) can make one; the code
// itself does not reveal the token.
func LoginCode(token string, now time.Time, ttl time.Duration) (string, error) {
	return sign(token, purposeLogin, now.Add(ttl))
}

// sign is "EXP.NONCE.MAC": EXP the Unix expiry, NONCE 16 random bytes (hex), MAC the
// HMAC-SHA256 of purpose|EXP|NONCE under token (hex).
func sign(token, purpose string, exp time.Time) (string, error) {
	if token == "" {
		return "", errors.New("no operator token to sign with")
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random nonce: %w", err)
	}
	e, n := strconv.FormatInt(exp.Unix(), 10), hex.EncodeToString(b)
	return e + "." + n + "." + mac(token, purpose, e, n), nil
}

func mac(token string, parts ...string) string {
	h := hmac.New(sha256.New, []byte(token))
	h.Write([]byte(strings.Join(parts, "|")))
	return hex.EncodeToString(h.Sum(nil))
}

// verify checks a signed value of purpose: its MAC under token and its expiry. It
// returns the nonce and the expiry.
func verify(token, purpose, v string, now time.Time) (nonce string, exp time.Time, err error) {
	e, rest, ok1 := strings.Cut(v, ".")
	n, m, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || token == "" {
		return "", time.Time{}, errors.New("malformed")
	}
	if !hmac.Equal([]byte(m), []byte(mac(token, purpose, e, n))) {
		return "", time.Time{}, errors.New("not signed with this grid's operator token (it may have been rotated)")
	}
	unix, err := strconv.ParseInt(e, 10, 64)
	if err != nil {
		return "", time.Time{}, errors.New("malformed expiry")
	}
	exp = time.Unix(unix, 0)
	if !now.Before(exp) {
		return "", time.Time{}, fmt.Errorf("expired at %s", exp.UTC().Format(time.RFC3339))
	}
	return n, exp, nil
}

// csrfFor is the CSRF token of a session cookie: the UI sends it in CSRFHeader with
// every action, which a page of another site cannot read nor set.
func csrfFor(token, session string) string { return mac(token, purposeCSRF, session)[:32] }

// usedCodes remembers the login codes already exchanged, until they expire: a code
// works once on this manager.
type usedCodes struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

// use marks nonce used and reports whether it was fresh.
func (u *usedCodes) use(nonce string, exp, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.seen == nil {
		u.seen = map[string]time.Time{}
	}
	for k, e := range u.seen {
		if !now.Before(e) {
			delete(u.seen, k)
		}
	}
	if _, ok := u.seen[nonce]; ok {
		return false
	}
	u.seen[nonce] = exp
	return true
}
