package tlsconf

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func generate(t *testing.T, dir string) Files {
	t.Helper()
	f, err := Generate(dir, []string{"grid.example"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func load(t *testing.T, f Files) *Source {
	t.Helper()
	s, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// serve accepts TLS connections with cfg on loopback, completes each handshake and
// writes "ok"; it returns the address.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				if err := c.(*tls.Conn).Handshake(); err == nil {
					_, _ = c.Write([]byte("ok"))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// exchange dials addr with cfg and reads the server's "ok": the handshake's outcome as
// the client sees it (TLS 1.3 reports a refused client certificate at the first read).
func exchange(addr string, cfg *tls.Config) (*tls.ConnectionState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := DialContext(ctx, &net.Dialer{Timeout: 5 * time.Second}, cfg, addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		return nil, err
	}
	if string(b) != "ok" {
		return nil, io.ErrUnexpectedEOF
	}
	st := c.(*tls.Conn).ConnectionState()
	return &st, nil
}

func TestLoadWithoutFilesIsTLSOff(t *testing.T) {
	s, err := Load(Files{})
	if s != nil || err != nil {
		t.Fatalf("Load(no files) = %v, %v; want nil, nil", s, err)
	}
}

func TestLoadNamesTheFlagOfAMissingOrBadFile(t *testing.T) {
	dir := t.TempDir()
	f := generate(t, dir)
	other := generate(t, t.TempDir())
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		files Files
		want  []string
	}{
		{"no CA", Files{Cert: f.Cert, Key: f.Key}, []string{"--tls-ca-cert-file is empty"}},
		{"cert without key", Files{Cert: f.Cert, CA: f.CA}, []string{"--tls-cert-file", "--tls-key-file", "give both"}},
		{"key of another certificate", Files{Cert: f.Cert, Key: other.Key, CA: f.CA}, []string{"--tls-cert-file " + f.Cert, "--tls-key-file " + other.Key}},
		{"CA file missing", Files{Cert: f.Cert, Key: f.Key, CA: filepath.Join(dir, "none.crt")}, []string{"--tls-ca-cert-file " + filepath.Join(dir, "none.crt"), "no such file"}},
		{"CA without a certificate", Files{Cert: f.Cert, Key: f.Key, CA: garbage}, []string{"--tls-ca-cert-file " + garbage, "no PEM certificate"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Load(c.files)
			if err == nil {
				t.Fatalf("Load = %v, nil; want an error", s)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestMutualTLSRefusesAClientWithoutACertificateOrWithAnotherCAs(t *testing.T) {
	src := load(t, generate(t, t.TempDir()))
	addr := serve(t, src.ServerConfig(AuthYes))
	if _, err := exchange(addr, src.InternalClientConfig()); err != nil {
		t.Fatalf("a client with the CA's certificate: %v", err)
	}
	f := src.Files()
	caOnly := load(t, Files{CA: f.CA})
	if _, err := exchange(addr, caOnly.InternalClientConfig()); err == nil {
		t.Fatal("a client without a certificate was accepted")
	}
	stranger := generate(t, t.TempDir())
	// Another CA's certificate, trusting this server's CA.
	mixed := load(t, Files{Cert: stranger.Cert, Key: stranger.Key, CA: f.CA})
	if _, err := exchange(addr, mixed.InternalClientConfig()); err == nil {
		t.Fatal("a client certificate of another CA was accepted")
	}
}

func TestOptionalClientAuthAcceptsNoCertificateButNotABadOne(t *testing.T) {
	src := load(t, generate(t, t.TempDir()))
	addr := serve(t, src.ServerConfig(AuthOptional))
	if _, err := exchange(addr, load(t, Files{CA: src.Files().CA}).ClientConfig()); err != nil {
		t.Fatalf("a client without a certificate: %v", err)
	}
	stranger := generate(t, t.TempDir())
	if _, err := exchange(addr, load(t, Files{Cert: stranger.Cert, Key: stranger.Key, CA: src.Files().CA}).ClientConfig()); err == nil {
		t.Fatal("a client certificate of another CA was accepted")
	}
	open := serve(t, src.ServerConfig(AuthNo))
	if _, err := exchange(open, load(t, Files{CA: src.Files().CA}).ClientConfig()); err != nil {
		t.Fatalf("tls-auth-clients no, a client without a certificate: %v", err)
	}
}

func TestClientsRefuseAServerOfAnotherCA(t *testing.T) {
	server := load(t, generate(t, t.TempDir()))
	addr := serve(t, server.ServerConfig(AuthNo))
	client := load(t, generate(t, t.TempDir()))
	for name, cfg := range map[string]*tls.Config{"internal": client.InternalClientConfig(), "external": client.ClientConfig()} {
		if _, err := exchange(addr, cfg); err == nil || !strings.Contains(err.Error(), "unknown authority") {
			t.Errorf("%s client: err %v, want the server's certificate refused (unknown authority)", name, err)
		}
	}
}

func TestExternalClientsCheckTheHostNameInternalOnesDoNot(t *testing.T) {
	src := load(t, generate(t, t.TempDir()))
	addr := serve(t, src.ServerConfig(AuthNo))
	_, port, _ := net.SplitHostPort(addr)
	ext := src.ClientConfig()
	if _, err := exchange(net.JoinHostPort("localhost", port), ext); err != nil {
		t.Fatalf("external client at localhost (a SAN): %v", err)
	}
	ext.ServerName = "elsewhere.example"
	if _, err := exchange(addr, ext); err == nil || !strings.Contains(err.Error(), "elsewhere.example") {
		t.Fatalf("external client for elsewhere.example: err %v, want the host name refused", err)
	}
	in := src.InternalClientConfig()
	in.ServerName = "elsewhere.example"
	if _, err := exchange(addr, in); err != nil {
		t.Fatalf("internal client for elsewhere.example: %v (only the CA is checked)", err)
	}
}

func TestRewrittenFilesAreServedWithoutARestart(t *testing.T) {
	dir := t.TempDir()
	src := load(t, generate(t, dir))
	client := load(t, src.Files())
	addr := serve(t, src.ServerConfig(AuthYes))
	st, err := exchange(addr, client.InternalClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	before := st.PeerCertificates[0].SerialNumber
	// A new CA and certificate in the same files, as a rotated Secret: both sides read them
	// at their next handshake, and the old ones would not verify against the new CA.
	generate(t, dir)
	st, err = exchange(addr, client.InternalClientConfig())
	if err != nil {
		t.Fatalf("after the rotation: %v", err)
	}
	if st.PeerCertificates[0].SerialNumber.Cmp(before) == 0 {
		t.Fatal("the server still presents the certificate it started with")
	}
	if err := src.Err(); err != nil {
		t.Fatalf("Err after a good rotation: %v", err)
	}
}

func TestABadRewriteKeepsTheLastGoodCertificate(t *testing.T) {
	dir := t.TempDir()
	src := load(t, generate(t, dir))
	serialBefore := src.Certificate().Leaf.SerialNumber
	if err := os.WriteFile(src.Files().Key, []byte("half written"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := src.Certificate().Leaf.SerialNumber; got.Cmp(serialBefore) != 0 {
		t.Fatalf("certificate changed to %v after a bad key file", got)
	}
	if err := src.Err(); err == nil || !strings.Contains(err.Error(), "--tls-key-file") {
		t.Fatalf("Err = %v, want the bad key file named", err)
	}
	addr := serve(t, src.ServerConfig(AuthNo))
	if _, err := exchange(addr, load(t, Files{CA: src.Files().CA}).ClientConfig()); err != nil {
		t.Fatalf("serving with the last good certificate: %v", err)
	}
}

func TestParseClientAuth(t *testing.T) {
	for _, v := range []string{"yes", "no", "optional"} {
		if a, err := ParseClientAuth(v); err != nil || string(a) != v {
			t.Errorf("ParseClientAuth(%q) = %q, %v", v, a, err)
		}
	}
	if _, err := ParseClientAuth("maybe"); err == nil || !strings.Contains(err.Error(), "want yes, no or optional") {
		t.Errorf("ParseClientAuth(maybe): %v", err)
	}
}

func TestIssueRenewsTheCertificateUnderTheSameCA(t *testing.T) {
	dir := t.TempDir()
	src := load(t, generate(t, dir))
	if fi, err := os.Stat(filepath.Join(dir, CAKeyName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key file: %v, %v; want mode 0600", fi, err)
	}
	// A client holding only the CA it had before the renewal.
	client := load(t, Files{CA: src.Files().CA})
	caBefore := client.Pool()
	addr := serve(t, src.ServerConfig(AuthNo))
	before := src.Certificate().Leaf.SerialNumber
	ca, err := LoadCA(filepath.Join(dir, CAName), filepath.Join(dir, CAKeyName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Issue(dir, nil, time.Hour); err != nil {
		t.Fatal(err)
	}
	st, err := exchange(addr, client.ClientConfig())
	if err != nil {
		t.Fatalf("after the renewal: %v", err)
	}
	if st.PeerCertificates[0].SerialNumber.Cmp(before) == 0 {
		t.Fatal("the server still presents the certificate it started with")
	}
	if !client.Pool().Equal(caBefore) {
		t.Fatal("the renewal changed the CA")
	}
}

func TestLoadCARefusesALeafCertificate(t *testing.T) {
	f := generate(t, t.TempDir())
	if _, err := LoadCA(f.Cert, f.Key); err == nil || !strings.Contains(err.Error(), "not an ECDSA CA certificate") {
		t.Fatalf("LoadCA(leaf) = %v, want it refused", err)
	}
}
