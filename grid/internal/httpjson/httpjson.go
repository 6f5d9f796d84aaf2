// Package httpjson writes the JSON bodies of the grid's HTTP APIs (the manager's REST API
// and a data instance's endpoints): values, and errors as
// {"error":{"code":"NotFound","message":"..."}} with a fitting status.
package httpjson

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/insightgrid/insight/grid/api"
)

// Write sends v as indented JSON with status.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Error sends the error envelope (api.ErrorBody) with status, code and the formatted
// message.
func Error(w http.ResponseWriter, status int, code, format string, a ...any) {
	Write(w, status, api.ErrorBody{Error: api.ErrorDetail{Code: code, Message: fmt.Sprintf(format, a...)}})
}
