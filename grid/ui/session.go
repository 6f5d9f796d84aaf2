package ui

import (
	"sync"
	"time"

	"github.com/insightgrid/insight/grid/api"
)

// SessionTTL is how long a session lasts.
const SessionTTL = 12 * time.Hour

// purposeCSRF signs a session's CSRF token.
const purposeCSRF = "insight-ui-csrf"

// csrfFor is the CSRF token of a session cookie: the UI sends it in CSRFHeader with
// every action, which a page of another site cannot read nor set.
func csrfFor(token, session string) string { return api.MAC(token, purposeCSRF, session)[:32] }

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
