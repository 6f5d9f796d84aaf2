// Package opauth guards the grid's mutating HTTP endpoints (the manager's REST API and a
// data instance's admin endpoints) with the operator token, a shared bearer token, and
// gives the callers (the managers, insight-grid's admin commands, grid/api) the header to
// present it in. Read-only requests stay open; the token is read from a file, re-read
// when the file changes, so a rotated Secret needs no restart.
package opauth

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/insightgrid/insight/grid/api"
)

const (
	// Header is the operator token's own header. The Kubernetes API server's service
	// proxy drops Authorization, so callers send the token here; Authorization: Bearer
	// is accepted too.
	Header = api.TokenHeader
	// EnvToken is the environment variable that gives the token itself when no token
	// file is given.
	EnvToken = "INSIGHT_OPERATOR_TOKEN"
	// FlagFile is the flag naming the token file, on every command that serves or calls
	// a guarded endpoint.
	FlagFile = "operator-token-file"
)

// Source is where the operator token comes from: a file, re-read when its modification
// time or size changes, or a fixed value. The zero Source and a nil one hold no token.
type Source struct {
	path string

	mu      sync.Mutex
	token   string
	modTime time.Time
	size    int64
}

// Fixed is a source that always gives token.
func Fixed(token string) *Source {
	return &Source{token: strings.TrimSpace(token)}
}

// FromFile reads the token in path now (an error when it cannot be read or is empty), and
// again on Token when the file has changed.
func FromFile(path string) (*Source, error) {
	s := &Source{path: path}
	if _, err := s.reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Configured is the source a command's flag and environment give: the file when one is
// named, else the token in EnvToken, else nil (no token: nothing guarded, nothing sent).
func Configured(file string, getenv func(string) string) (*Source, error) {
	if file != "" {
		s, err := FromFile(file)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", FlagFile, err)
		}
		return s, nil
	}
	if t := strings.TrimSpace(getenv(EnvToken)); t != "" {
		return Fixed(t), nil
	}
	return nil, nil
}

// Token is the current token. A file that changed is read again; when that fails the
// previous token stays in force and the error says why.
func (s *Source) Token() (string, error) {
	if s == nil {
		return "", nil
	}
	if s.path == "" {
		return s.token, nil
	}
	return s.reload()
}

// reload reads the file when its modification time or size differs from the last read.
func (s *Source) reload() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fi, err := os.Stat(s.path) // follows the symbolic links a Secret volume swaps
	if err != nil {
		return s.token, fmt.Errorf("operator token file %s: %w", s.path, err)
	}
	if s.token != "" && fi.ModTime().Equal(s.modTime) && fi.Size() == s.size {
		return s.token, nil
	}
	b, err := os.ReadFile(s.path)
	if err != nil {
		return s.token, fmt.Errorf("operator token file %s: %w", s.path, err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return s.token, errors.New("operator token file " + s.path + " is empty: it must hold the token")
	}
	s.token, s.modTime, s.size = t, fi.ModTime(), fi.Size()
	return s.token, nil
}
