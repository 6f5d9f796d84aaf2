package opauth

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const secret = "0123456789abcdef0123456789abcdef"

// guarded is a handler behind Guard that answers 200 "done", and the log it writes.
func guarded(t *testing.T, src *Source) (http.Handler, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	return Guard(src, log, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("done"))
	})), &logs
}

func serve(h http.Handler, method string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/v1/partitions/0/failover", nil)
	req.RemoteAddr = "10.1.2.3:4567"
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestGuardRefusesAMutatingRequestWithoutTheTokenWith401(t *testing.T) {
	h, logs := guarded(t, Fixed(secret))
	for _, hdr := range []http.Header{nil, {"Authorization": {"Basic dXNlcjpwYXNz"}}, {"Authorization": {"Bearer "}}, {Header: {"  "}}} {
		rec := serve(h, http.MethodPost, hdr)
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("POST with %v: status %d, want 401", hdr, rec.Code)
		}
		if got := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
			t.Fatalf("WWW-Authenticate %q, want Bearer", got)
		}
		var body struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code != CodeUnauthorized || !strings.Contains(body.Error.Message, Header) {
			t.Fatalf("body %s: want the Unauthorized envelope naming %s", rec.Body, Header)
		}
	}
	for _, want := range []string{"remote=10.1.2.3:4567", "method=POST", "path=/v1/partitions/0/failover"} {
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("log %q lacks %q", logs, want)
		}
	}
}

func TestGuardRefusesAWrongTokenWith403AndNeverLogsIt(t *testing.T) {
	h, logs := guarded(t, Fixed(secret))
	wrong := "not-the-token-" + strings.Repeat("x", 18)
	for _, hdr := range []http.Header{{Header: {wrong}}, {"Authorization": {"Bearer " + wrong}}, {Header: {secret + "0"}}} {
		rec := serve(h, http.MethodPost, hdr)
		if rec.Code != http.StatusForbidden {
			t.Fatalf("POST with %v: status %d, want 403", hdr, rec.Code)
		}
	}
	if !strings.Contains(logs.String(), "wrong operator token") || strings.Contains(logs.String(), wrong) || strings.Contains(logs.String(), secret) {
		t.Fatalf("log %q: want the refusal without any token", logs)
	}
}

func TestGuardPassesTheRightTokenInEitherHeader(t *testing.T) {
	h, logs := guarded(t, Fixed(secret))
	for _, hdr := range []http.Header{{Header: {secret}}, {"Authorization": {"Bearer " + secret}}, {"Authorization": {"bearer  " + secret}}} {
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
			if rec := serve(h, m, hdr); rec.Code != http.StatusOK || rec.Body.String() != "done" {
				t.Fatalf("%s with %v: status %d %q, want 200 done", m, hdr, rec.Code, rec.Body)
			}
		}
	}
	if logs.Len() != 0 {
		t.Fatalf("accepted requests logged %q", logs)
	}
}

func TestGuardLeavesReadOnlyRequestsOpen(t *testing.T) {
	h, _ := guarded(t, Fixed(secret))
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodOptions} {
		if rec := serve(h, m, nil); rec.Code != http.StatusOK {
			t.Fatalf("%s without a token: status %d, want 200", m, rec.Code)
		}
	}
}

func TestGuardWithoutASourceGuardsNothing(t *testing.T) {
	h, _ := guarded(t, nil)
	if rec := serve(h, http.MethodPost, nil); rec.Code != http.StatusOK {
		t.Fatalf("POST without a configured token: status %d, want 200", rec.Code)
	}
}

// writeToken writes token to path with a modification time of its own, as a Secret
// volume's update gives the file.
func writeToken(t *testing.T, path, token string, mod time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mod, mod); err != nil {
		t.Fatal(err)
	}
}

func TestGuardPicksUpARotatedTokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	t0 := time.Now().Add(-time.Hour)
	writeToken(t, path, secret, t0)
	src, err := FromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := guarded(t, src)
	if rec := serve(h, http.MethodPost, http.Header{Header: {secret}}); rec.Code != http.StatusOK {
		t.Fatalf("first token: status %d, want 200", rec.Code)
	}
	rotated := strings.ToUpper(secret) // same size: only the time tells the change
	writeToken(t, path, rotated, t0.Add(time.Minute))
	if rec := serve(h, http.MethodPost, http.Header{Header: {secret}}); rec.Code != http.StatusForbidden {
		t.Fatalf("old token after rotation: status %d, want 403", rec.Code)
	}
	if rec := serve(h, http.MethodPost, http.Header{Header: {rotated}}); rec.Code != http.StatusOK {
		t.Fatalf("rotated token: status %d, want 200", rec.Code)
	}
	// A file emptied or removed mid-rotation keeps the last token in force.
	writeToken(t, path, "", t0.Add(2*time.Minute))
	if rec := serve(h, http.MethodPost, http.Header{Header: {rotated}}); rec.Code != http.StatusOK {
		t.Fatalf("token after the file was emptied: status %d, want 200 with the last token", rec.Code)
	}
}

func TestFromFileRefusesAMissingOrEmptyFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := FromFile(filepath.Join(dir, "absent")); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Fatalf("missing file: error %v, want one naming the file", err)
	}
	empty := filepath.Join(dir, "empty")
	writeToken(t, empty, " ", time.Now())
	if _, err := FromFile(empty); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty file: error %v, want one saying it is empty", err)
	}
}

func TestConfiguredPrefersTheFileThenTheEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	writeToken(t, path, secret, time.Now())
	env := func(k string) string {
		if k == EnvToken {
			return "from-env"
		}
		return ""
	}
	for _, c := range []struct {
		file, want string
		getenv     func(string) string
	}{{path, secret, env}, {"", "from-env", env}, {"", "", func(string) string { return "" }}} {
		src, err := Configured(c.file, c.getenv)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := src.Token(); got != c.want {
			t.Fatalf("Configured(%q): token %q, want %q", c.file, got, c.want)
		}
	}
	if _, err := Configured(filepath.Join(path, "nope"), env); err == nil || !strings.Contains(err.Error(), "--"+FlagFile) {
		t.Fatalf("unreadable file: error %v, want one naming --%s", err, FlagFile)
	}
}

func TestSetPresentsTheTokenInItsOwnHeader(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "/v1/handover", nil)
	if err := Set(req, Fixed(secret)); err != nil || req.Header.Get(Header) != secret {
		t.Fatalf("Set: err %v, header %q", err, req.Header.Get(Header))
	}
	bare := httptest.NewRequest(http.MethodPost, "/v1/handover", nil)
	if err := Set(bare, nil); err != nil || bare.Header.Get(Header) != "" {
		t.Fatalf("Set without a source: err %v, header %q", err, bare.Header.Get(Header))
	}
}
