package wan

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The delegator's connections to a target give up a broken link after linkDeadAfter of
// unacknowledged data, and probe it while they wait for an answer.
func TestTargetConnectionsDetectABrokenLink(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close() // the kernel completes the connection: no Accept needed
	hc, _, err := targetClient(GatewayTarget{Name: "paris", Address: ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := hc.Transport.(*http.Transport)
	if !ok || tr.DialContext == nil {
		t.Fatalf("the target client's transport %T has no dialer of its own", hc.Transport)
	}
	if tr.TLSHandshakeTimeout <= 0 {
		t.Errorf("the target client's TLS handshake has no timeout")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := tr.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var userTimeout, keepalive, idle int
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		if userTimeout, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT); gerr != nil {
			return
		}
		if keepalive, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE); gerr != nil {
			return
		}
		idle, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
	}); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	if userTimeout != int(linkDeadAfter.Milliseconds()) {
		t.Errorf("TCP_USER_TIMEOUT = %d ms, want %d", userTimeout, linkDeadAfter.Milliseconds())
	}
	if keepalive != 1 || idle != int(linkDeadAfter.Seconds()) {
		t.Errorf("keepalive %d after %d s idle, want on after %s", keepalive, idle, linkDeadAfter)
	}
}
