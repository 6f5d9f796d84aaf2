package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// The file names Generate and Issue write in their directory, as a kubernetes.io/tls
// Secret with its CA (cert-manager's keys) names them, and the CA's key Generate keeps
// beside them.
const (
	CertName  = "tls.crt"
	KeyName   = "tls.key"
	CAName    = "ca.crt"
	CAKeyName = "ca.key"
)

// CA is a certificate authority that issues the grid's certificates.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewCA makes a CA (ECDSA P-256) valid for validity.
func NewCA(validity time.Duration) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "insight-grid local CA"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("signing the CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("reading the CA certificate back: %w", err)
	}
	return &CA{cert: cert, key: key}, nil
}

// LoadCA reads a CA's certificate and key (the CAName and CAKeyName Generate writes).
func LoadCA(certFile, keyFile string) (*CA, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("CA %s with key %s: %w", certFile, keyFile, err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok || !pair.Leaf.IsCA {
		return nil, fmt.Errorf("CA %s: not an ECDSA CA certificate", certFile)
	}
	return &CA{cert: pair.Leaf, key: key}, nil
}

// Generate writes a new CA and a certificate it issues (see Issue) to dir (created if
// needed), and keeps the CA's key there as CAKeyName (mode 0600) so that Issue can renew
// the certificate later. It returns the files, ready for Load.
func Generate(dir string, hosts []string, validity time.Duration) (Files, error) {
	ca, err := NewCA(validity)
	if err != nil {
		return Files{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Files{}, fmt.Errorf("creating %s: %w", dir, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(ca.key)
	if err != nil {
		return Files{}, fmt.Errorf("encoding the CA key: %w", err)
	}
	if err := writeFile(filepath.Join(dir, CAKeyName), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return Files{}, err
	}
	return ca.Issue(dir, hosts, validity)
}

// Issue writes a new key (ECDSA P-256) and a certificate the CA signs for hosts (IP
// addresses and DNS names; 127.0.0.1 and localhost always), valid for validity, usable by
// servers and clients alike, and the CA's certificate, to dir (created if needed): KeyName
// (mode 0600), CertName and CAName, each replaced atomically. It returns the files.
func (ca *CA) Issue(dir string, hosts []string, validity time.Duration) (Files, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Files{}, fmt.Errorf("generating the key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "insight-grid"},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range append([]string{"127.0.0.1", "localhost"}, hosts...) {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return Files{}, fmt.Errorf("signing the certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Files{}, fmt.Errorf("encoding the key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Files{}, fmt.Errorf("creating %s: %w", dir, err)
	}
	f := Files{Cert: filepath.Join(dir, CertName), Key: filepath.Join(dir, KeyName), CA: filepath.Join(dir, CAName)}
	// The key first and the CA last: a reader that sees a new CA sees the certificate it
	// signed (Source reads all three again when any changed).
	for _, w := range []struct {
		path, typ string
		der       []byte
		mode      os.FileMode
	}{{f.Key, "PRIVATE KEY", keyDER, 0o600}, {f.Cert, "CERTIFICATE", der, 0o644}, {f.CA, "CERTIFICATE", ca.cert.Raw, 0o644}} {
		if err := writeFile(w.path, pem.EncodeToMemory(&pem.Block{Type: w.typ, Bytes: w.der}), w.mode); err != nil {
			return Files{}, err
		}
	}
	return f, nil
}

// writeFile replaces path with b atomically (a temporary file renamed over it), so a
// process reading it sees the old or the new content, never a part.
func writeFile(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// serial is a random 128-bit certificate serial number.
func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // the reader never fails on supported systems
	}
	return n
}
