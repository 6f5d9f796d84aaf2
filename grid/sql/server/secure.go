package server

import (
	"net"

	gms "github.com/dolthub/go-mysql-server/server"
	"github.com/dolthub/vitess/go/mysql"
)

// ERSecureTransportRequired is MySQL's ER_SECURE_TRANSPORT_REQUIRED.
const ERSecureTransportRequired = 3159

// secureTransportListener is the MySQL protocol listener with require_secure_transport
// as MySQL does it: a client that did not switch to TLS is refused after its handshake
// with error 3159. (The vitess listener's own RequireSecureTransport sends error 1105
// and goes on authenticating.)
func secureTransportListener(require bool) gms.ProtocolListenerFunc {
	return func(cfg gms.Config, lc mysql.ListenerConfig, sel gms.ServerEventListener) (gms.ProtocolListener, error) {
		if require {
			lc.AuthServer = secureAuthServer{lc.AuthServer}
		}
		cfg.RequireSecureTransport = false
		return gms.MySQLProtocolListenerFactory(cfg, lc, sel)
	}
}

// secureAuthServer gives its methods the TLS check.
type secureAuthServer struct {
	mysql.AuthServer
}

// AuthMethods implements mysql.AuthServer.
func (s secureAuthServer) AuthMethods() []mysql.AuthMethod {
	ms := s.AuthServer.AuthMethods()
	out := make([]mysql.AuthMethod, len(ms))
	for i, m := range ms {
		out[i] = secureAuthMethod{m}
	}
	return out
}

// secureAuthMethod refuses a connection without TLS before it checks the credentials.
type secureAuthMethod struct {
	mysql.AuthMethod
}

// HandleAuthPluginData implements mysql.AuthMethod.
func (m secureAuthMethod) HandleAuthPluginData(c *mysql.Conn, user string, serverAuthPluginData []byte, clientAuthPluginData []byte, remoteAddr net.Addr) (mysql.Getter, error) {
	if !c.TLSEnabled() {
		return nil, mysql.NewSQLError(ERSecureTransportRequired, mysql.SSUnknownSQLState,
			"Connections using insecure transport are prohibited while --require_secure_transport=ON.")
	}
	return m.AuthMethod.HandleAuthPluginData(c, user, serverAuthPluginData, clientAuthPluginData, remoteAddr)
}
