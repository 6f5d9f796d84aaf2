package local

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/insightgrid/insight/grid/ui"
)

// TestUILoginURLSignsTheBrowserInOnce: the "ui" line's link is accepted by the manager's
// UI once, giving a session cookie; without a token the line is the UI itself.
func TestUILoginURLSignsTheBrowserInOnce(t *testing.T) {
	dir := t.TempDir()
	tf, err := writeOperatorToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{tokenFile: tf}
	l := Layout{API: "127.0.0.1:7002"}
	link, err := uiLoginURL(cfg, l)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link, "http://127.0.0.1:7002"+ui.PathLogin+"?token=") {
		t.Fatalf("login URL %q", link)
	}
	src := func() (string, error) { b, err := readFile(tf); return strings.TrimSpace(b), err }
	h := ui.Wrap(ui.Config{Token: src}, http.NotFoundHandler(), http.NotFoundHandler())
	for i, want := range []int{http.StatusSeeOther, http.StatusUnauthorized} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, strings.TrimPrefix(link, "http://127.0.0.1:7002"), nil))
		if rec.Code != want {
			t.Fatalf("use %d of the login URL: HTTP %d, want %d", i+1, rec.Code, want)
		}
	}
	open, err := uiLoginURL(Config{}, l)
	if err != nil || open != "http://127.0.0.1:7002/ui/" {
		t.Fatalf("insecure: %q %v, want the UI's URL", open, err)
	}
}

func readFile(p string) (string, error) {
	b, err := os.ReadFile(p)
	return string(b), err
}
