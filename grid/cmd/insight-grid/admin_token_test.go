package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/insightgrid/insight/grid/internal/opauth"
)

func TestAdminCommandsPresentTheOperatorToken(t *testing.T) {
	const token = "5f1e0c7d9a2b4c6e8f0a1b2c3d4e5f60"
	f := newFakeManager(t)
	guarded := httptest.NewServer(opauth.Guard(opauth.Fixed(token), slog.New(slog.NewTextHandler(io.Discard, nil)), f.Config.Handler))
	t.Cleanup(guarded.Close)
	file := filepath.Join(t.TempDir(), "operator-token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	failover := []string{"failover", "--manager", guarded.URL, "--partition", "0"}
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		stderr string
	}{
		{"no token", failover, nil, 1, "send the operator token in the header X-Insight-Token: <token> (or Authorization: Bearer <token>)"},
		{"wrong token", failover, map[string]string{opauth.EnvToken: "wrong"}, 1, "the operator token sent is not this grid's"},
		{"token file", append(failover, "--operator-token-file", file), nil, 0, ""},
		{"token file from the environment", failover, map[string]string{"INSIGHT_OPERATOR_TOKEN_FILE": file}, 0, ""},
		{"token from the environment", failover, map[string]string{opauth.EnvToken: token}, 0, ""},
		{"missing token file", append(failover, "--operator-token-file", file+".absent"), nil, 2, "--operator-token-file: operator token file " + file + ".absent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr, func(k string) string { return tt.env[k] })
			if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
				t.Fatalf("exit %d, stderr %q; want exit %d, stderr with %q", code, stderr.String(), tt.code, tt.stderr)
			}
			if strings.Contains(stderr.String(), token) {
				t.Fatalf("stderr shows the token: %q", stderr.String())
			}
		})
	}
}
