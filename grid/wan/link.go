package wan

import (
	"fmt"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A WAN link that breaks mostly does not refuse: its packets vanish, so a connection
// attempt waits for SYN retransmissions and a connection in use waits for
// retransmissions whose interval doubles up to two minutes, long after the link is back.
// The delegator's connections to a target therefore give up early and are made again:
// a connection attempt after linkDialTimeout; a connection whose sent data (a request,
// or a keepalive probe while the target applies a batch) stays unacknowledged for
// linkDeadAfter (TCP_USER_TIMEOUT). After a heal, the next batch goes out within about
// linkDialTimeout plus the retry backoff, rather than when a stale retransmission timer
// or the request's 30-second timeout fires.
const (
	linkDialTimeout = 5 * time.Second
	linkDeadAfter   = 5 * time.Second
)

// linkDialer dials a target's gateway.
func linkDialer() *net.Dialer {
	return &net.Dialer{
		Timeout: linkDialTimeout,
		// Probes while a batch is being applied, so a link that breaks then is noticed.
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: linkDeadAfter, Interval: time.Second, Count: 5},
		Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(linkDeadAfter.Milliseconds()))
			}); err != nil {
				return fmt.Errorf("setting TCP_USER_TIMEOUT: %w", err)
			}
			if serr != nil {
				return fmt.Errorf("setting TCP_USER_TIMEOUT: %w", serr)
			}
			return nil
		},
	}
}
