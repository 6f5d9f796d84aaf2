package opauth

import (
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"

	"github.com/insightgrid/insight/grid/internal/httpjson"
)

// Error codes of the refusals, in the error envelope.
const (
	CodeUnauthorized = "Unauthorized"
	CodeForbidden    = "Forbidden"
)

// Guard wraps next so that every request but GET, HEAD and OPTIONS must present the
// token of src, in Header or as Authorization: Bearer. No token given is a 401 with
// WWW-Authenticate: Bearer, a wrong one a 403; both are logged with the caller, method
// and path, never with what it sent (nil log: slog's default). A nil src guards nothing.
func Guard(src *Source, log *slog.Logger, next http.Handler) http.Handler {
	if src == nil {
		return next
	}
	if log == nil {
		log = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
			return
		}
		want, err := src.Token()
		if err != nil {
			// The previous token stays in force; the file is being rotated or broken.
			log.Warn("operator token file not read again; the previous token stays in force", "err", err)
		}
		got, ok := presented(r)
		switch {
		case !ok:
			log.Warn("refused a request without the operator token", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path)
			w.Header().Set("WWW-Authenticate", `Bearer realm="insight"`)
			httpjson.Error(w, http.StatusUnauthorized, CodeUnauthorized,
				"%s %s changes the grid: send the operator token in the header %s: <token> (or Authorization: Bearer <token>); insightctl presents it from the release's Secret <release>-operator-token",
				r.Method, r.URL.Path, Header)
		case want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1:
			log.Warn("refused a request with a wrong operator token", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path)
			httpjson.Error(w, http.StatusForbidden, CodeForbidden,
				"%s %s: the operator token sent is not this grid's (it may have been rotated: read it again)", r.Method, r.URL.Path)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// presented is the token a request carries, in Header or Authorization: Bearer.
func presented(r *http.Request) (string, bool) {
	if t := strings.TrimSpace(r.Header.Get(Header)); t != "" {
		return t, true
	}
	scheme, t, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		if t = strings.TrimSpace(t); t != "" {
			return t, true
		}
	}
	return "", false
}

// Set puts the token of src on req, in Header (which the Kubernetes API server's proxy
// passes on, unlike Authorization). A nil src sets nothing.
func Set(req *http.Request, src *Source) error {
	t, err := src.Token()
	if t != "" {
		req.Header.Set(Header, t)
	}
	if err != nil && t == "" {
		return err
	}
	return nil
}
