// Package ui is the grid manager's web UI: static pages embedded in the binary (plain
// HTML, CSS and JavaScript, no build step, nothing fetched from elsewhere), the login
// that turns a one-time code into a session cookie, and the checks that let a session's
// actions through to the manager's API (CSRF header, read-only mode). The pages read the
// manager's own API (GET /v1/overview, the server-sent events of /v1/events) and act
// with its POSTs.
//
// It depends on the standard library and grid/api only; the manager wires it in front of
// its API handler.
package ui

import (
	"embed"
	"fmt"
	"html"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/insightgrid/insight/grid/api"
)

//go:embed assets
var assets embed.FS

// Paths the UI serves.
const (
	PathUI      = "/ui/"
	PathLogin   = api.PathUILogin
	PathSession = "/ui/session"
	// CookieName is the session cookie: HttpOnly, SameSite=Strict, path /.
	CookieName = "insight_ui_session"
	// CSRFHeader carries the session's CSRF token on every action of the UI.
	CSRFHeader = "X-Insight-CSRF"
	// tokenHeader is where insightctl ui's proxy puts the operator token.
	tokenHeader = api.TokenHeader
)

// Config is the UI's configuration.
type Config struct {
	// ReadOnly hides the actions and refuses every POST that comes from the UI (a
	// session's, or one carrying CSRFHeader).
	ReadOnly bool
	// Token reads the operator token; nil: the grid has none and the UI needs no login.
	Token func() (string, error)
	Log   *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Session is GET /ui/session: what the page may do.
type Session struct {
	// Authenticated is a valid session cookie, the operator token (insightctl ui's
	// proxy), or a grid without operator token.
	Authenticated bool `json:"authenticated"`
	ReadOnly      bool `json:"readOnly"`
	// CSRF is the value to send in CSRFHeader with every action.
	CSRF string `json:"csrf"`
	// Via is "session", "token" or "open".
	Via string `json:"via,omitempty"`
}

type handler struct {
	cfg           Config
	guarded, open http.Handler
	static        http.Handler
	used          usedCodes
}

// Wrap serves the UI under /ui/ and lets the rest through to the manager's API:
// guarded is the API behind the operator-token guard, open the same API without it. A
// POST carrying CSRFHeader comes from the UI: it is refused in read-only mode, and with a
// valid session cookie and its CSRF token it reaches open (the session stands for the
// token); without a session it must carry the operator token (insightctl ui's proxy).
func Wrap(cfg Config, guarded, open http.Handler) http.Handler {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(fmt.Sprintf("ui: embedded assets: %v", err)) // the embed directive guarantees it
	}
	h := &handler{cfg: cfg, guarded: guarded, open: open, static: http.StripPrefix("/ui", http.FileServerFS(sub))}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/ui":
		http.Redirect(w, r, PathUI, http.StatusMovedPermanently)
	case r.URL.Path == PathLogin:
		h.login(w, r)
	case r.URL.Path == PathSession:
		h.session(w, r)
	case strings.HasPrefix(r.URL.Path, PathUI):
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, api.CodeMethodNotAllowed, "%s %s: the UI's pages are read with GET", r.Method, r.URL.Path)
			return
		}
		securityHeaders(w)
		w.Header().Set("Cache-Control", "no-cache")
		h.static.ServeHTTP(w, r)
	case r.Header.Get(CSRFHeader) != "" && r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions:
		h.action(w, r)
	default:
		h.guarded.ServeHTTP(w, r)
	}
}

// securityHeaders keep the pages to their own origin: no inline script, no framing.
func securityHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Frame-Options", "DENY")
}

// token is the operator token, "" when the grid has none.
func (h *handler) token() (string, error) {
	if h.cfg.Token == nil {
		return "", nil
	}
	t, err := h.cfg.Token()
	if err != nil && t == "" {
		return "", fmt.Errorf("reading the operator token: %w", err)
	}
	return strings.TrimSpace(t), nil
}

// who says how r is authenticated: "session" (and its cookie), "token", "open", or "".
func (h *handler) who(r *http.Request, token string) (string, string) {
	if token == "" {
		return "open", ""
	}
	if c, err := r.Cookie(CookieName); err == nil {
		if _, _, err := api.Verify(token, api.PurposeSession, c.Value, h.cfg.Now()); err == nil {
			return "session", c.Value
		}
	}
	if got := strings.TrimSpace(r.Header.Get(tokenHeader)); got != "" && hmacEqual(got, token) {
		return "token", ""
	}
	return "", ""
}

func (h *handler) session(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, api.CodeMethodNotAllowed, "%s %s: only GET is allowed", r.Method, r.URL.Path)
		return
	}
	token, err := h.token()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, api.CodeUnavailable, "%v", err)
		return
	}
	via, cookie := h.who(r, token)
	s := Session{Authenticated: via != "", ReadOnly: h.cfg.ReadOnly, Via: via}
	switch via {
	case "session":
		s.CSRF = csrfFor(token, cookie)
	case "token", "open":
		s.CSRF = "proxy" // any value: the header alone shows the request comes from the page
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, s)
}

// login is GET /ui/login?token=CODE: a valid, unused login code becomes a session cookie
// and a redirect to the UI.
func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		loginPage(w, http.StatusMethodNotAllowed, "The login link is opened with GET.")
		return
	}
	token, err := h.token()
	if err != nil {
		loginPage(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	if token == "" {
		http.Redirect(w, r, PathUI, http.StatusSeeOther)
		return
	}
	code := r.URL.Query().Get("token")
	now := h.cfg.Now()
	nonce, exp, err := api.Verify(token, api.PurposeLogin, code, now)
	switch {
	case code == "":
		loginPage(w, http.StatusUnauthorized, "This link has no login code (?token=...). Open the URL printed by insight-grid local, or use insightctl ui, which signs you in.")
		return
	case err != nil:
		h.cfg.Log.Warn("refused a UI login", "remote", r.RemoteAddr, "why", err.Error())
		loginPage(w, http.StatusUnauthorized, "This login code is not valid: "+err.Error()+". Ask for a new login URL.")
		return
	case !h.used.use(nonce, exp, now):
		h.cfg.Log.Warn("refused a UI login code used twice", "remote", r.RemoteAddr)
		loginPage(w, http.StatusUnauthorized, "This login code was already used: each works once. Ask for a new login URL.")
		return
	}
	sess, err := api.Sign(token, api.PurposeSession, now.Add(SessionTTL))
	if err != nil {
		loginPage(w, http.StatusInternalServerError, err.Error())
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: sess, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, Expires: now.Add(SessionTTL)})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, PathUI, http.StatusSeeOther)
}

// action is a POST from the UI (it carries CSRFHeader).
func (h *handler) action(w http.ResponseWriter, r *http.Request) {
	if h.cfg.ReadOnly && !readOnlyPath(r.URL.Path) {
		writeError(w, http.StatusForbidden, "Forbidden", "%s %s: the UI is read-only (--ui-read-only, manager.ui.readOnly): its actions are refused; use insightctl", r.Method, r.URL.Path)
		return
	}
	token, err := h.token()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, api.CodeUnavailable, "%v", err)
		return
	}
	via, cookie := h.who(r, token)
	switch via {
	case "open", "token":
		h.guarded.ServeHTTP(w, r)
	case "session":
		if !hmacEqual(r.Header.Get(CSRFHeader), csrfFor(token, cookie)) {
			h.cfg.Log.Warn("refused a UI action with a wrong CSRF token", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path)
			writeError(w, http.StatusForbidden, "Forbidden", "%s %s: the %s header does not match this session; reload the page", r.Method, r.URL.Path, CSRFHeader)
			return
		}
		h.open.ServeHTTP(w, r)
	default:
		writeError(w, http.StatusUnauthorized, "Unauthorized", "%s %s: sign in first: open the login URL printed by insight-grid local, or use insightctl ui", r.Method, r.URL.Path)
	}
}

func loginPage(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Insight grid: sign in</title><link rel="stylesheet" href="/ui/app.css"></head><body><main class="login"><h1>Insight grid</h1><p role="alert">%s</p></main></body></html>`, html.EscapeString(msg))
}

// readOnlyPath tells the POSTs that only read (the key browser), allowed in read-only mode.
func readOnlyPath(p string) bool { return p == api.PathKeysScan || p == api.PathKeysGet }
