package backup

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/internal/httpjson"
	"github.com/insightgrid/insight/grid/persist"
	"github.com/insightgrid/insight/grid/rdb"
	"github.com/insightgrid/insight/grid/store"
)

// The function libraries of a backup. A snapshot carries its instance's libraries (a
// FUNCTION DUMP payload) as one record; they belong to every primary, not to a slot, so
// a restore reads them out of every file's head first (HeadLibraries), merges them (the
// same library in several files is one) and loads them on every primary of the target
// (PathFunctions) before any key is written.

// PathFunctions is a data instance's restore of function libraries (a POST).
const PathFunctions = "/v1/backup/functions"

// maxLibraries bounds the code a snapshot's libraries may decode to, as the server
// bounds its stored ones.
const maxLibraries = 1 << 30

// HeadLibraries returns the codes of the function libraries a snapshot holds (none:
// nil), reading only its head and first record, where the instance writes them (r may
// be api.SnapshotHead's or the whole snapshot).
func HeadLibraries(r io.Reader) ([]string, error) {
	var codes []string
	_, err := persist.ReadSnapshot(r, func(op []byte) error {
		blob, ok, err := store.FunctionsOf(op)
		if err != nil {
			return err
		}
		if ok {
			if codes, err = rdb.DecodeFunctions(blob, maxLibraries); err != nil {
				return fmt.Errorf("its function libraries do not decode: %w", err)
			}
		}
		return errHeadRead
	})
	if err != nil && !errors.Is(err, errHeadRead) {
		return nil, err
	}
	return codes, nil
}

// errHeadRead stops HeadLibraries after the first record.
var errHeadRead = errors.New("the snapshot's head is read")

// LibraryName is the name a library's code declares in its first line,
// "#!lua name=<library>", as FUNCTION LOAD reads it.
func LibraryName(code string) (string, error) {
	line, _, _ := strings.Cut(code, "\n")
	parts := strings.Fields(line)
	if len(parts) == 0 || parts[0] != "#!lua" {
		return "", fmt.Errorf("library code %.40q does not start with \"#!lua name=<library>\"", code)
	}
	for _, p := range parts[1:] {
		if name, ok := strings.CutPrefix(p, "name="); ok && name != "" {
			return name, nil
		}
	}
	return "", fmt.Errorf("library code %.40q names no library (\"#!lua name=<library>\")", code)
}

// Functions is the part of the server the restore of function libraries uses.
type Functions interface {
	// LibraryNames are the names of the loaded libraries.
	LibraryNames() []string
	// RestoreLibraries loads codes into an instance holding none, journaled as FUNCTION
	// LOAD; it loads nothing on any error.
	RestoreLibraries(codes []string) error
}

// FunctionsRequest is the body of PathFunctions: Check asks only whether the instance
// holds libraries (a 409 naming them when it does); otherwise the instance loads
// Libraries.
type FunctionsRequest struct {
	Libraries []string `json:"libraries"`
	Check     bool     `json:"check,omitempty"`
}

// FunctionsAnswer is the answer to PathFunctions.
type FunctionsAnswer struct {
	Libraries int `json:"libraries"`
}

// functions loads a restore's function libraries into this primary, which must hold
// none, and answers once the backup has them.
func (in *Instance) functions(w http.ResponseWriter, r *http.Request) {
	if _, ok := in.serving(w, "restore of function libraries"); !ok {
		return
	}
	if in.Functions == nil {
		httpjson.Error(w, http.StatusNotImplemented, api.CodeUnavailable, "restore of function libraries into partition %d: this instance has no function engine", in.Partition)
		return
	}
	var req FunctionsRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<31)).Decode(&req); err != nil {
		httpjson.Error(w, http.StatusBadRequest, api.CodeBadRequest, "restore of function libraries into partition %d: the body is not a FunctionsRequest: %v", in.Partition, err)
		return
	}
	if names := in.Functions.LibraryNames(); len(names) > 0 {
		httpjson.Error(w, http.StatusConflict, api.CodeConflict, "%s", heldMessage(in.Partition, names))
		return
	}
	if req.Check {
		httpjson.Write(w, http.StatusOK, FunctionsAnswer{})
		return
	}
	if redirect, errReply := in.Repl.Admit(); redirect != "" || errReply != "" {
		httpjson.Error(w, http.StatusServiceUnavailable, api.CodeUnavailable, "restore of function libraries into partition %d: not admitted now (%s%s): retry", in.Partition, redirect, errReply)
		return
	}
	if err := in.Functions.RestoreLibraries(req.Libraries); err != nil {
		httpjson.Error(w, http.StatusBadRequest, api.CodeBadRequest, "restore of function libraries into partition %d: %v", in.Partition, err)
		return
	}
	if !in.Repl.Wait(in.Repl.Barrier(true, 0)) {
		httpjson.Error(w, http.StatusServiceUnavailable, api.CodeUnavailable,
			"restore of function libraries into partition %d: the instance stopped serving before its backup acknowledged them", in.Partition)
		return
	}
	httpjson.Write(w, http.StatusOK, FunctionsAnswer{Libraries: len(req.Libraries)})
}

// heldMessage refuses a restore into a primary holding function libraries.
func heldMessage(p int, names []string) string {
	return fmt.Sprintf("partition %d's primary holds function libraries (%s): restore loads the backup's libraries into a new or empty release only; restore into a new release, or remove them (FUNCTION FLUSH on every primary) first",
		p, strings.Join(names, ", "))
}
