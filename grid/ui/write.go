package ui

import (
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/insightgrid/insight/grid/api"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers the manager's error envelope.
func writeError(w http.ResponseWriter, status int, code, format string, a ...any) {
	writeJSON(w, status, api.ErrorBody{Error: api.ErrorDetail{Code: code, Message: fmt.Sprintf(format, a...)}})
}

func hmacEqual(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }
