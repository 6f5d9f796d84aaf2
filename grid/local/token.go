package local

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/ui"
)

// operatorTokenFile is the name of the operator token file in the data directory.
const operatorTokenFile = "operator-token"

// writeOperatorToken writes a new operator token (32 random bytes, hex) to
// dir/operator-token, readable by the owner alone, and returns its path. The file is
// written beside and renamed over the old one, so a process reading it never sees it
// half written.
func writeOperatorToken(dir string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making the operator token: %w", err)
	}
	path := filepath.Join(dir, operatorTokenFile)
	tmp, err := os.CreateTemp(dir, operatorTokenFile+".*")
	if err != nil {
		return "", fmt.Errorf("writing the operator token in %s: %w", dir, err)
	}
	defer os.Remove(tmp.Name()) // after the rename, nothing is left to remove
	if _, err := tmp.WriteString(hex.EncodeToString(b) + "\n"); err != nil {
		tmp.Close()
		return "", fmt.Errorf("writing the operator token %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("writing the operator token %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("writing the operator token %s: %w", path, err)
	}
	return path, nil
}

// tlsDir is the directory in the data directory where Run writes the grid's CA,
// certificate and key, and tlsValidity how long they are valid.
const (
	tlsDir      = "tls"
	tlsValidity = 365 * 24 * time.Hour
)

// uiLoginURL is the URL that opens the manager's web UI: with an operator token, a
// one-time login link (valid api.LoginTTL) that signs the browser in; without one, the UI.
func uiLoginURL(cfg Config, l Layout) (string, error) {
	base := "http://" + l.API
	if cfg.tokenFile == "" {
		return base + ui.PathUI, nil
	}
	b, err := os.ReadFile(cfg.tokenFile)
	if err != nil {
		return "", fmt.Errorf("reading the operator token for the UI's login link: %w", err)
	}
	code, err := api.LoginCode(strings.TrimSpace(string(b)), time.Now(), api.LoginTTL)
	if err != nil {
		return "", fmt.Errorf("making the UI's login link: %w", err)
	}
	return base + ui.PathLogin + "?token=" + url.QueryEscape(code), nil
}
