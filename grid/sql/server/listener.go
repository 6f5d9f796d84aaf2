package server

import (
	"fmt"
	"net"
)

// clientListener accepts the MySQL clients' connections as clientConns: go-mysql-server
// then sees no *net.TCPConn, so it skips its check for a client that went away during a
// statement, which costs every SELECT a dup of the socket, a readlink of /proc/self/fd
// and, every 5 s of a longer one, a parse of /proc/net/tcp (a tenth of a point select's
// CPU). A statement whose client went away still ends when it sends its rows (the write
// fails), at max_execution_time, or when it completes.
type clientListener struct {
	net.Listener
}

// clientConn is a client's connection, of a type go-mysql-server does not inspect.
type clientConn struct {
	net.Conn
}

func listenClients(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--listen %s: %w", addr, err)
	}
	return clientListener{l}, nil
}

// Accept implements net.Listener.
func (l clientListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return clientConn{c}, nil
}
