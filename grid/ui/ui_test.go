package ui

import (
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/api"
)

const token = "0123456789abcdef0123456789abcdef"

// fixture is Wrap in front of two fake API handlers that say which one answered.
func fixture(t *testing.T, cfg Config) http.Handler {
	t.Helper()
	answer := func(who string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(who)) })
	}
	cfg.Log = slog.New(slog.DiscardHandler)
	return Wrap(cfg, answer("guarded"), answer("open"))
}

func withToken(cfg Config) Config {
	cfg.Token = func() (string, error) { return token, nil }
	return cfg
}

func serve(h http.Handler, method, target string, hdr map[string]string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// login exchanges a fresh login code and returns the session cookie.
func login(t *testing.T, h http.Handler) *http.Cookie {
	t.Helper()
	code, err := api.LoginCode(token, time.Now(), api.LoginTTL)
	if err != nil {
		t.Fatal(err)
	}
	rec := serve(h, http.MethodGet, PathLogin+"?token="+code, nil)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != PathUI {
		t.Fatalf("login: HTTP %d to %q, want 303 to %s", rec.Code, rec.Header().Get("Location"), PathUI)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == CookieName {
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
				t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, path /", c)
			}
			return c
		}
	}
	t.Fatal("login set no session cookie")
	return nil
}

func session(t *testing.T, h http.Handler, hdr map[string]string, cookies ...*http.Cookie) Session {
	t.Helper()
	rec := serve(h, http.MethodGet, PathSession, hdr, cookies...)
	var s Session
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &s) != nil {
		t.Fatalf("GET %s: HTTP %d %s", PathSession, rec.Code, rec.Body)
	}
	return s
}

func TestALoginCodeWorksOnceAndGivesASession(t *testing.T) {
	h := fixture(t, withToken(Config{}))
	code, err := api.LoginCode(token, time.Now(), api.LoginTTL)
	if err != nil {
		t.Fatal(err)
	}
	if rec := serve(h, http.MethodGet, PathLogin+"?token="+code, nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("first use: HTTP %d", rec.Code)
	}
	rec := serve(h, http.MethodGet, PathLogin+"?token="+code, nil)
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "already used") {
		t.Fatalf("second use: HTTP %d %s, want 401 already used", rec.Code, rec.Body)
	}
	if s := session(t, h, nil, login(t, h)); !s.Authenticated || s.Via != "session" || len(s.CSRF) != 32 {
		t.Fatalf("session %+v: want authenticated by the session with a CSRF token", s)
	}
	if s := session(t, h, nil); s.Authenticated {
		t.Fatalf("without a cookie: %+v, want not authenticated", s)
	}
}

func TestBadLoginCodesAreRefusedSayingWhy(t *testing.T) {
	h := fixture(t, withToken(Config{}))
	expired, _ := api.LoginCode(token, time.Now().Add(-2*api.LoginTTL), api.LoginTTL)
	foreign, _ := api.LoginCode("another-grid's-token-0123456789ab", time.Now(), api.LoginTTL)
	session, _ := api.Sign(token, api.PurposeSession, time.Now().Add(time.Hour))
	for code, why := range map[string]string{
		"":                  "no login code",
		"garbage":           "not valid: malformed",
		expired:             "expired",
		foreign:             "not signed with this grid",
		session:             "not signed with this grid", // a session is no login code
		"1.2." + token[:10]: "not signed",
	} {
		rec := serve(h, http.MethodGet, PathLogin+"?token="+code, nil)
		if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), why) || len(rec.Result().Cookies()) != 0 {
			t.Fatalf("code %q: HTTP %d %s, want 401 saying %q and no cookie", code, rec.Code, rec.Body, why)
		}
	}
}

func TestUIActionsNeedASessionAndItsCSRFToken(t *testing.T) {
	h := fixture(t, withToken(Config{}))
	cookie := login(t, h)
	csrf := session(t, h, nil, cookie).CSRF
	failover := api.PartitionPath(0, api.OpFailover)
	for _, c := range []struct {
		name   string
		hdr    map[string]string
		cookie *http.Cookie
		code   int
		body   string
	}{
		{"session and its CSRF token", map[string]string{CSRFHeader: csrf}, cookie, 200, "open"},
		{"session and another CSRF token", map[string]string{CSRFHeader: strings.Repeat("0", 32)}, cookie, 403, "does not match this session"},
		{"CSRF header without a session", map[string]string{CSRFHeader: csrf}, nil, 401, "sign in first"},
		{"a forged cookie", map[string]string{CSRFHeader: csrf}, &http.Cookie{Name: CookieName, Value: "1.2.3"}, 401, "sign in first"},
		{"the operator token (insightctl ui's proxy)", map[string]string{CSRFHeader: "x", api.TokenHeader: token}, nil, 200, "guarded"},
		{"no CSRF header: the API's own guard decides", nil, cookie, 200, "guarded"},
	} {
		var cookies []*http.Cookie
		if c.cookie != nil {
			cookies = append(cookies, c.cookie)
		}
		rec := serve(h, http.MethodPost, failover, c.hdr, cookies...)
		if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.body) {
			t.Fatalf("%s: HTTP %d %s, want %d %q", c.name, rec.Code, rec.Body, c.code, c.body)
		}
	}
}

func TestReadOnlyRefusesTheUIsActionsButNotTheKeyBrowser(t *testing.T) {
	h := fixture(t, withToken(Config{ReadOnly: true}))
	cookie := login(t, h)
	s := session(t, h, nil, cookie)
	if !s.ReadOnly {
		t.Fatalf("session %+v: want readOnly", s)
	}
	for _, p := range []string{api.PartitionPath(1, api.OpFailover), api.PartitionPath(1, api.OpFailback), api.PathRepartition} {
		rec := serve(h, http.MethodPost, p, map[string]string{CSRFHeader: s.CSRF}, cookie)
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "read-only") {
			t.Fatalf("POST %s read-only: HTTP %d %s, want 403 read-only", p, rec.Code, rec.Body)
		}
	}
	for _, p := range []string{api.PathKeysScan, api.PathKeysGet} {
		if rec := serve(h, http.MethodPost, p, map[string]string{CSRFHeader: s.CSRF}, cookie); rec.Code != 200 || rec.Body.String() != "open" {
			t.Fatalf("POST %s read-only: HTTP %d %s, want it through", p, rec.Code, rec.Body)
		}
	}
}

func TestWithoutAnOperatorTokenTheUINeedsNoLogin(t *testing.T) {
	h := fixture(t, Config{})
	if s := session(t, h, nil); !s.Authenticated || s.Via != "open" {
		t.Fatalf("session %+v: want open", s)
	}
	if rec := serve(h, http.MethodGet, PathLogin, nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("login without token: HTTP %d, want a redirect to the UI", rec.Code)
	}
	if rec := serve(h, http.MethodPost, api.PathRepartition, map[string]string{CSRFHeader: "x"}); rec.Body.String() != "guarded" {
		t.Fatalf("POST without token: %s, want the API's own handler", rec.Body)
	}
}

func TestThePagesAreServedWithTheirSecurityHeaders(t *testing.T) {
	h := fixture(t, Config{})
	for path, want := range map[string]string{"/ui/": "<title>Insight grid</title>", "/ui/app.js": "EventSource", "/ui/app.css": "font-family"} {
		rec := serve(h, http.MethodGet, path, nil)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
			t.Fatalf("GET %s: HTTP %d, body lacks %q", path, rec.Code, want)
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Fatalf("GET %s: CSP %q", path, csp)
		}
	}
	if rec := serve(h, http.MethodGet, "/ui", nil); rec.Code != http.StatusMovedPermanently {
		t.Fatalf("GET /ui: HTTP %d, want a redirect to /ui/", rec.Code)
	}
	if rec := serve(h, http.MethodPost, "/ui/app.js", nil); rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST /ui/app.js: HTTP %d, want 405", rec.Code)
	}
	if rec := serve(h, http.MethodGet, api.PathPartitions, nil); rec.Body.String() != "guarded" {
		t.Fatalf("GET /v1/partitions: %s, want the API", rec.Body)
	}
}

// TestTheAssetsFetchNothingFromElsewhere: the UI works air-gapped, no URL of another host
// in its pages.
func TestTheAssetsFetchNothingFromElsewhere(t *testing.T) {
	url := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	err := fs.WalkDir(assets, "assets", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(assets, path)
		if err != nil {
			return err
		}
		if m := url.Find(b); m != nil {
			t.Errorf("%s refers to %s", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
