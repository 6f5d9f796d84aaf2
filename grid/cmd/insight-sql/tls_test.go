package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/internal/tlsconf"
)

// TestServeTLSFlags checks serve's TLS flags: the files load into the config, and bad
// combinations fail naming the flags.
func TestServeTLSFlags(t *testing.T) {
	files, err := tlsconf.Generate(t.TempDir(), []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	noenv := func(string) string { return "" }
	f, err := parseServe([]string{"--grid", "h:1", "--tls-cert-file", files.Cert, "--tls-key-file", files.Key,
		"--tls-ca-cert-file", files.CA, "--require-secure-transport"}, &bytes.Buffer{}, noenv)
	if err != nil {
		t.Fatal(err)
	}
	if f.cfg.TLS == nil || !f.cfg.TLS.HasCert() || !f.cfg.GridTLS || !f.cfg.RequireSecureTransport {
		t.Errorf("with the files: %+v, want TLS with a certificate, grid TLS and secure transport required", f.cfg)
	}
	f, err = parseServe([]string{"--grid", "h:1"}, &bytes.Buffer{}, noenv)
	if err != nil || f.cfg.TLS != nil || f.cfg.RequireSecureTransport {
		t.Errorf("without the files: %+v, %v; want TLS off", f.cfg, err)
	}
	for _, tt := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"require without certificate", []string{"--require-secure-transport"}, "--require-secure-transport needs --tls-cert-file, --tls-key-file and --tls-ca-cert-file"},
		{"require with the CA only", []string{"--require-secure-transport", "--tls-ca-cert-file", files.CA}, "--require-secure-transport needs --tls-cert-file"},
		{"certificate without CA", []string{"--tls-cert-file", files.Cert, "--tls-key-file", files.Key}, "--tls-ca-cert-file is empty"},
		{"key without certificate", []string{"--tls-key-file", files.Key, "--tls-ca-cert-file", files.CA}, "give both (the certificate and its private key) or neither"},
		{"missing CA file", []string{"--tls-ca-cert-file", files.CA + ".missing"}, "--tls-ca-cert-file " + files.CA + ".missing"},
		{"bad tls-grid", []string{"--tls-grid=maybe"}, `invalid boolean value "maybe" for -tls-grid`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(append([]string{"serve", "--grid", "h:1"}, tt.args...), &bytes.Buffer{}, &stderr, noenv)
			if code == 0 || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Fatalf("exit %d, stderr:\n%s\nwant %q", code, stderr.String(), tt.wantErr)
			}
		})
	}
}
