package api

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The web UI's login (docs/ui.md): GET PathUILogin?token=CODE exchanges a one-time login
// code for a session cookie. Codes and sessions are "EXP.NONCE.MAC": EXP the Unix expiry,
// NONCE 16 random bytes (hex), MAC the HMAC-SHA256 of purpose|EXP|NONCE keyed with the
// operator token (hex), so whoever holds the token (insight-grid local, insightctl ui
// --login-url) makes a code any manager of the grid accepts, without revealing the token.
const (
	PathUILogin = "/ui/login"
	// LoginTTL is how long a login code is valid.
	LoginTTL = time.Hour
	// PurposeLogin and PurposeSession keep a code from standing for a session and the
	// other way round.
	PurposeLogin   = "insight-ui-login"
	PurposeSession = "insight-ui-session"
)

// LoginCode is a one-time login code valid until now+ttl, signed with token.
func LoginCode(token string, now time.Time, ttl time.Duration) (string, error) {
	return Sign(token, PurposeLogin, now.Add(ttl))
}

// Sign makes a value of purpose valid until exp, signed with token.
func Sign(token, purpose string, exp time.Time) (string, error) {
	if token == "" {
		return "", errors.New("no operator token to sign with")
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random nonce: %w", err)
	}
	e, n := strconv.FormatInt(exp.Unix(), 10), hex.EncodeToString(b)
	return e + "." + n + "." + MAC(token, purpose, e, n), nil
}

// MAC is the hex HMAC-SHA256 of parts joined by "|", keyed with token.
func MAC(token string, parts ...string) string {
	h := hmac.New(sha256.New, []byte(token))
	h.Write([]byte(strings.Join(parts, "|")))
	return hex.EncodeToString(h.Sum(nil))
}

// Verify checks a value of purpose Sign made: its MAC under token and its expiry. It
// returns the nonce and the expiry, or why the value is refused.
func Verify(token, purpose, v string, now time.Time) (nonce string, exp time.Time, err error) {
	e, rest, ok1 := strings.Cut(v, ".")
	n, m, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || token == "" {
		return "", time.Time{}, errors.New("malformed")
	}
	if !hmac.Equal([]byte(m), []byte(MAC(token, purpose, e, n))) {
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
