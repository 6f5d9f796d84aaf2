// Package tlsconf gives the grid's processes their TLS: the certificate, key and CA read
// from files (--tls-cert-file, --tls-key-file, --tls-ca-cert-file) and read again when
// the files change, so a rotated Secret needs no restart; the server and client
// *tls.Config of the internal links (mutual TLS: each side presents a certificate the
// release's CA signed) and of the client-facing ports; and a generator of a CA and a
// certificate for `insight-grid local`.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// The flags naming the files, on every command that serves or dials TLS; each also reads
// INSIGHT_TLS_CERT_FILE, INSIGHT_TLS_KEY_FILE and INSIGHT_TLS_CA_CERT_FILE.
const (
	FlagCert = "tls-cert-file"
	FlagKey  = "tls-key-file"
	FlagCA   = "tls-ca-cert-file"
)

// Files names the PEM files: the certificate (chain) and its private key this process
// presents, and the CA certificates it trusts.
type Files struct {
	Cert, Key, CA string
}

// Any tells whether any file is named.
func (f Files) Any() bool { return f.Cert != "" || f.Key != "" || f.CA != "" }

// stamp is what tells a file changed: its modification time and size.
type stamp struct {
	mod  time.Time
	size int64
}

// material is one consistent read of the three files.
type material struct {
	cert   *tls.Certificate
	pool   *x509.CertPool
	stamps [3]stamp
}

// Source holds the files' contents, read again when a file's modification time or size
// changes (os.Stat follows the symbolic links a Secret volume swaps). A read that fails
// (a file half written, a key that does not match the certificate yet) keeps the last
// good material in force and is tried again at the next use.
type Source struct {
	files Files

	mu      sync.Mutex
	cur     *material
	lastErr error
}

// Load reads the files named by f. None named: nil, nil (TLS off). The CA is needed
// whenever a file is named; the certificate and key go together (a client that only
// verifies servers may do without them, a server may not: see HasCert). A file that
// cannot be read or parsed is an error naming the flag and the file.
func Load(f Files) (*Source, error) {
	if !f.Any() {
		return nil, nil
	}
	var errs []error
	if f.CA == "" {
		errs = append(errs, fmt.Errorf("--%s is empty: TLS needs the CA certificate that signed the grid's certificates", FlagCA))
	}
	if (f.Cert == "") != (f.Key == "") {
		errs = append(errs, fmt.Errorf("--%s %q and --%s %q: give both (the certificate and its private key) or neither", FlagCert, f.Cert, FlagKey, f.Key))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s := &Source{files: f}
	m, err := s.read()
	if err != nil {
		return nil, err
	}
	s.cur = m
	return s, nil
}

// Files are the files the source reads.
func (s *Source) Files() Files { return s.files }

// HasCert tells whether the source has a certificate to present (what a server needs).
func (s *Source) HasCert() bool { return s.files.Cert != "" }

// current is the material in force, read again first when a file changed.
func (s *Source) current() *material {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.stamps()
	if err != nil || st == s.cur.stamps {
		if err != nil {
			s.lastErr = err
		}
		return s.cur
	}
	m, err := s.read()
	if err != nil {
		s.lastErr = err
		return s.cur
	}
	s.cur, s.lastErr = m, nil
	return s.cur
}

// Err is why the last reload failed (nil: the files in force are the newest read), for
// logs and status.
func (s *Source) Err() error {
	s.current()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// Certificate is the certificate in force (the leaf parsed), read again when its files
// changed.
func (s *Source) Certificate() *tls.Certificate { return s.current().cert }

// Pool is the CA pool in force.
func (s *Source) Pool() *x509.CertPool { return s.current().pool }

func (s *Source) stamps() ([3]stamp, error) {
	var st [3]stamp
	for i, x := range []struct{ flag, path string }{{FlagCert, s.files.Cert}, {FlagKey, s.files.Key}, {FlagCA, s.files.CA}} {
		if x.path == "" {
			continue
		}
		fi, err := os.Stat(x.path)
		if err != nil {
			return st, fmt.Errorf("--%s %s: %w", x.flag, x.path, err)
		}
		st[i] = stamp{fi.ModTime(), fi.Size()}
	}
	return st, nil
}

// read reads and checks the three files, stamps first: a file changed during the read is
// read again at the next use.
func (s *Source) read() (*material, error) {
	st, err := s.stamps()
	if err != nil {
		return nil, err
	}
	m := &material{stamps: st}
	if s.files.Cert != "" {
		certPEM, err := os.ReadFile(s.files.Cert)
		if err != nil {
			return nil, fmt.Errorf("--%s %s: %w", FlagCert, s.files.Cert, err)
		}
		keyPEM, err := os.ReadFile(s.files.Key)
		if err != nil {
			return nil, fmt.Errorf("--%s %s: %w", FlagKey, s.files.Key, err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("--%s %s with --%s %s: %w", FlagCert, s.files.Cert, FlagKey, s.files.Key, err)
		}
		m.cert = &cert
	}
	caPEM, err := os.ReadFile(s.files.CA)
	if err != nil {
		return nil, fmt.Errorf("--%s %s: %w", FlagCA, s.files.CA, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("--%s %s: no PEM certificate in it", FlagCA, s.files.CA)
	}
	m.pool = pool
	return m, nil
}
