package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"
)

// ClientAuth is how a server port treats a client's certificate, as Redis's
// tls-auth-clients: yes (required, signed by the CA), optional (verified when given) or
// no (not asked for).
type ClientAuth string

// The ClientAuth values.
const (
	AuthYes      ClientAuth = "yes"
	AuthOptional ClientAuth = "optional"
	AuthNo       ClientAuth = "no"
)

// ParseClientAuth reads a --tls-auth-clients value.
func ParseClientAuth(v string) (ClientAuth, error) {
	switch a := ClientAuth(v); a {
	case AuthYes, AuthOptional, AuthNo:
		return a, nil
	}
	return "", fmt.Errorf("%q: want yes, no or optional", v)
}

func (a ClientAuth) tlsType() tls.ClientAuthType {
	switch a {
	case AuthNo:
		return tls.NoClientCert
	case AuthOptional:
		return tls.VerifyClientCertIfGiven
	}
	return tls.RequireAndVerifyClientCert
}

// ServerConfig is the configuration of a port served over TLS (1.2 and newer): the
// certificate in force at each handshake, and the client certificates auth asks for,
// verified against the CA in force. The internal links' port uses AuthYes (mutual TLS).
func (s *Source) ServerConfig(auth ClientAuth) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			m := s.current()
			if m.cert == nil {
				return nil, fmt.Errorf("no certificate to serve: --%s is not given", FlagCert)
			}
			return &tls.Config{
				MinVersion:   tls.VersionTLS12,
				Certificates: []tls.Certificate{*m.cert},
				ClientCAs:    m.pool,
				ClientAuth:   auth.tlsType(),
			}, nil
		},
	}
}

// InternalClientConfig is the configuration of a link between the grid's own processes
// (replication, SLOTIMPORT, pub/sub forwarding, the managers' requests to data
// instances): it presents the certificate in force and accepts a server whose
// certificate the CA signed, whatever address it was dialled at, as Redis's replication
// does: pod addresses are not known when certificates are issued, and only the
// release's processes hold certificates of its CA.
func (s *Source) InternalClientConfig() *tls.Config { return s.clientConfig(false) }

// ClientConfig is the configuration of a client outside the grid's processes (the admin
// commands): the server's certificate must be signed by the CA and name the host dialled.
// It presents the certificate in force, if any.
func (s *Source) ClientConfig() *tls.Config { return s.clientConfig(true) }

func (s *Source) clientConfig(checkHost bool) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The chain is verified in VerifyConnection, against the CA in force at each
		// handshake (rotated without a restart), and with the host name when checkHost.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection below
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if c := s.current().cert; c != nil {
				return c, nil
			}
			return &tls.Certificate{}, nil // none: the server decides
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			host := ""
			if checkHost {
				host = cs.ServerName
			}
			return verify(cs.PeerCertificates, s.current().pool, host)
		},
	}
}

// verify checks that certs[0] is a server certificate the pool's CAs signed (through
// certs[1:]) and, when host is given, that it names host.
func verify(certs []*x509.Certificate, pool *x509.CertPool, host string) error {
	if len(certs) == 0 {
		return errors.New("the server presented no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{
		Roots: pool, Intermediates: inter, DNSName: host, CurrentTime: time.Now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return fmt.Errorf("server certificate %q: %w", certs[0].Subject.CommonName, err)
	}
	return nil
}

// DialContext connects to addr, over TLS with cfg unless cfg is nil; the handshake is
// bounded by the dialer's timeout and ctx.
func DialContext(ctx context.Context, d *net.Dialer, cfg *tls.Config, addr string) (net.Conn, error) {
	if cfg == nil {
		return d.DialContext(ctx, "tcp", addr)
	}
	c := cfg.Clone()
	if host, _, err := net.SplitHostPort(addr); err == nil && c.ServerName == "" {
		c.ServerName = host
	}
	td := tls.Dialer{NetDialer: d, Config: c}
	return td.DialContext(ctx, "tcp", addr)
}
