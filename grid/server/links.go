package server

// The ports a data instance serves RESP on: the client port (plain), the TLS client port
// (clients on TLS are redirected to TLS ports, as Redis's tls-cluster does) and the
// replication port (the other instances' internal links, behind mutual TLS).

// clientAddress is addr, a node's plain client address (as the replication gate names
// the partition's primary), as this client reaches that node: its TLS address for a
// client on TLS when it has one.
func (c *conn) clientAddress(addr string) string {
	if !c.tls {
		return addr
	}
	if v := c.s.view.Load(); v != nil {
		for _, n := range v.Nodes {
			if n.Address == addr {
				return n.ClientAddress(true)
			}
		}
	}
	return addr
}

// internalAllowed tells whether the internal command name may run on c: on any
// connection, or only on the replication port's when the instance has one (else c is
// answered with an error).
func (c *conn) internalAllowed(name string) bool {
	if !c.s.cfg.InternalPort || c.internal {
		return true
	}
	c.wr.Error("ERR " + name + " is served on the replication port only (--repl-port, mutual TLS)")
	return false
}
