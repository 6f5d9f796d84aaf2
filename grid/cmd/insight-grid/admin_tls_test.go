package main

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/internal/tlsconf"
)

func TestAdminCommandsDialAnHTTPSManagerWithTheCA(t *testing.T) {
	f := newFakeManager(t)
	files, err := tlsconf.Generate(t.TempDir(), nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	src, err := tlsconf.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(f.Config.Handler)
	srv.TLS = src.ServerConfig(tlsconf.AuthOptional)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	failover := []string{"failover", "--manager", srv.URL, "--partition", "0"}
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		stderr string
	}{
		{"no CA", failover, nil, 1, "certificate"},
		{"CA flag", append(failover, "--tls-ca-cert-file", files.CA), nil, 0, ""},
		{"CA from the environment", failover, map[string]string{"INSIGHT_TLS_CA_CERT_FILE": files.CA}, 0, ""},
		{"client certificate", append(failover, "--tls-ca-cert-file", files.CA, "--tls-cert-file", files.Cert, "--tls-key-file", files.Key), nil, 0, ""},
		{"certificate without its key", append(failover, "--tls-ca-cert-file", files.CA, "--tls-cert-file", files.Cert), nil, 2, "give both"},
		{"missing CA file", append(failover, "--tls-ca-cert-file", files.CA+".absent"), nil, 2, "--tls-ca-cert-file " + files.CA + ".absent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr, func(k string) string { return tt.env[k] })
			if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
				t.Fatalf("exit %d, stderr %q; want exit %d, stderr with %q", code, stderr.String(), tt.code, tt.stderr)
			}
		})
	}
}
