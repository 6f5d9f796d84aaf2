package server

import (
	"net"
	"strings"
	"testing"
)

// TestClientListener checks that accepted clients come as clientConns (not the
// *net.TCPConn whose state go-mysql-server would poll on every SELECT) that carry the
// connection's data, and that a taken address is an error naming --listen.
func TestClientListener(t *testing.T) {
	l, err := listenClients("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := listenClients(l.Addr().String()); err == nil || !strings.HasPrefix(err.Error(), "--listen "+l.Addr().String()+": ") {
		t.Errorf("listening on a taken address: %v, want an error naming --listen", err)
	}
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, tcp := c.(*net.TCPConn); tcp {
		t.Errorf("accepted a *net.TCPConn, want a clientConn")
	}
	if _, err := client.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := c.Read(buf); err != nil || string(buf) != "hi" {
		t.Errorf("read %q, %v through the clientConn", buf, err)
	}
}
