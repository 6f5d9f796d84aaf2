package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/internal/tlsconf"
)

// Cluster-wide classic pub/sub, as Redis Cluster broadcasts a PUBLISH over its cluster
// bus: the instance a client publishes on delivers the message to its own subscribers
// (PUBLISH's reply counts only those) and forwards it to every other registered instance
// of the view, backups included, with the internal command PUBLISHLOCAL, which delivers
// to that instance's subscribers and never forwards again (so nothing loops).
//
// Each peer has one forwarder: a bounded queue of encoded commands and a goroutine that
// owns one persistent connection, dialled on the first message, authenticated with the
// grid's requirepass, and redialled with backoff when it breaks. A publisher only appends
// to the queue under a mutex: a slow or dead peer never blocks it, and what does not fit
// in the queue is dropped and counted (INFO pubsub_forward_dropped). One queue and one
// connection per peer keep each publisher's messages in order at that peer. The peers
// follow the view: SetView starts forwarders for new instances and stops those of the
// instances that left.

// forwardCommand is the internal command peers deliver forwarded messages with, and
// forwardClientName the name of the forwarding connections in the peers' CLIENT LIST.
const (
	forwardCommand    = "publishlocal"
	forwardClientName = "insight-pubsub-forward"
)

// Bounds of one peer's queue: past either, new messages to that peer are dropped.
const (
	forwardQueueBytes = 8 << 20
	forwardQueueMsgs  = 1 << 16
)

// Reconnection backoff and the time a dial and its AUTH may take.
const (
	forwardBackoffMin = 50 * time.Millisecond
	forwardBackoffMax = 2 * time.Second
	forwardDialTime   = 2 * time.Second
)

// forwarding is the set of a server's forwarders, by peer RESP address. Publishers hold
// mu for reading (each forwarder has its own lock); view changes for writing.
type forwarding struct {
	mu      sync.RWMutex
	peers   map[string]*forwarder
	closed  bool
	dropped atomic.Int64 // messages not forwarded: queue full, connection lost, peer gone
}

// forwarder queues the messages for one peer and writes them on its connection.
type forwarder struct {
	addr     string
	password string
	s        *Server

	mu      sync.Mutex
	buf     []byte   // encoded commands waiting for the connection
	msgs    int      // commands in buf
	nc      net.Conn // the connection run writes on, closed by stop to end a stuck write
	stopped bool
	wake    chan struct{}
	done    chan struct{}
}

// updateForwarders makes the forwarders match v's instances other than this one.
func (s *Server) updateForwarders(v *cluster.View) {
	f := &s.pubsub.forwards
	want := map[string]bool{}
	if v != nil {
		for _, n := range v.Nodes {
			if addr := n.InternalAddress(); n.ID != v.Self && addr != "" {
				want[addr] = true
			}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	for addr, fw := range f.peers {
		if !want[addr] {
			fw.stop()
			delete(f.peers, addr)
		}
	}
	for addr := range want {
		if f.peers[addr] != nil {
			continue
		}
		if f.peers == nil {
			f.peers = map[string]*forwarder{}
		}
		fw := &forwarder{addr: addr, password: s.cfg.RequirePass, s: s, wake: make(chan struct{}, 1), done: make(chan struct{})}
		f.peers[addr] = fw
		go fw.run()
	}
}

// stopForwarders stops every forwarder for good (the server is closing).
func (s *Server) stopForwarders() {
	f := &s.pubsub.forwards
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for addr, fw := range f.peers {
		fw.stop()
		delete(f.peers, addr)
	}
}

// forwardPublish queues a classic PUBLISH of msg on channel for every peer; it never waits.
func (s *Server) forwardPublish(channel, msg []byte) {
	f := &s.pubsub.forwards
	f.mu.RLock()
	defer f.mu.RUnlock()
	if len(f.peers) == 0 {
		return
	}
	var cmd []byte
	cmd = append(cmd, "*3\r\n"...)
	cmd = appendBulk(cmd, []byte(forwardCommand))
	cmd = appendBulk(cmd, channel)
	cmd = appendBulk(cmd, msg)
	for _, fw := range f.peers {
		if !fw.push(cmd) {
			f.dropped.Add(1)
		}
	}
}

// push queues cmd; false: the queue is full and cmd is dropped.
func (fw *forwarder) push(cmd []byte) bool {
	fw.mu.Lock()
	if fw.msgs >= forwardQueueMsgs || len(fw.buf)+len(cmd) > forwardQueueBytes {
		fw.mu.Unlock()
		return false
	}
	fw.buf = append(fw.buf, cmd...)
	fw.msgs++
	fw.mu.Unlock()
	select {
	case fw.wake <- struct{}{}:
	default:
	}
	return true
}

// stop ends the forwarder, even while it writes to a peer that reads nothing; what it
// still queues is counted as dropped.
func (fw *forwarder) stop() {
	fw.mu.Lock()
	fw.stopped = true
	if fw.nc != nil {
		fw.nc.Close()
	}
	fw.mu.Unlock()
	close(fw.done)
}

// use makes nc the connection stop closes; false: the forwarder is stopped.
func (fw *forwarder) use(nc net.Conn) bool {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	fw.nc = nc
	return !fw.stopped
}

// take empties the queue and returns what it held.
func (fw *forwarder) take() ([]byte, int) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	b, n := fw.buf, fw.msgs
	fw.buf, fw.msgs = nil, 0
	return b, n
}

// run writes the queue to the peer until stop, dialling on the first message and
// redialling with backoff after a failure.
func (fw *forwarder) run() {
	dropped := &fw.s.pubsub.forwards.dropped
	var nc net.Conn
	var dead chan struct{} // closed when nc's replies end: the peer closed it
	defer func() {
		if nc != nil {
			nc.Close()
		}
		_, n := fw.take()
		dropped.Add(int64(n))
	}()
	backoff := forwardBackoffMin
	for {
		select {
		case <-fw.wake:
		case <-fw.done:
			return
		}
		if nc != nil {
			select {
			case <-dead:
				nc.Close()
				nc = nil
			default:
			}
		}
		for nc == nil {
			var err error
			if nc, dead, err = fw.dial(); err == nil {
				if !fw.use(nc) {
					return
				}
				backoff = forwardBackoffMin
				break
			}
			fw.s.log.Warn("pub/sub forwarding: peer unreachable", "peer", fw.addr, "err", err, "retryIn", backoff)
			select {
			case <-time.After(backoff):
			case <-fw.done:
				return
			}
			backoff = min(2*backoff, forwardBackoffMax)
		}
		b, n := fw.take()
		if n == 0 {
			continue
		}
		if _, err := nc.Write(b); err != nil {
			// The peer may have delivered a part of b: all of it counts as dropped.
			dropped.Add(int64(n))
			fw.s.log.Warn("pub/sub forwarding: connection lost", "peer", fw.addr, "err", err)
			nc.Close()
			nc = nil
			// Messages queued meanwhile wait for the redial.
			select {
			case fw.wake <- struct{}{}:
			default:
			}
		}
	}
}

// dial connects to the peer, authenticates, and starts draining its replies; dead is
// closed when they end.
func (fw *forwarder) dial() (nc net.Conn, dead chan struct{}, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), forwardDialTime)
	defer cancel()
	nc, err = tlsconf.DialContext(ctx, &net.Dialer{Timeout: forwardDialTime}, fw.s.cfg.InternalTLS, fw.addr)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to %s: %w", fw.addr, err)
	}
	rd := bufio.NewReader(nc)
	// AUTH when the grid has a password, and a name that tells this connection apart in
	// CLIENT LIST; both must answer +OK.
	var hello []byte
	replies := 1
	if fw.password != "" {
		hello = append(hello, "*2\r\n"...)
		hello = appendBulk(hello, []byte("AUTH"))
		hello = appendBulk(hello, []byte(fw.password))
		replies++
	}
	hello = append(hello, "*3\r\n"...)
	hello = appendBulk(hello, []byte("CLIENT"))
	hello = appendBulk(hello, []byte("SETNAME"))
	hello = appendBulk(hello, []byte(forwardClientName))
	if err := nc.SetDeadline(time.Now().Add(forwardDialTime)); err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("setting a deadline on %s: %w", fw.addr, err)
	}
	if _, err := nc.Write(hello); err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("authenticating to %s: %w", fw.addr, err)
	}
	for range replies {
		line, err := rd.ReadString('\n')
		if err != nil || line != "+OK\r\n" {
			nc.Close()
			return nil, nil, fmt.Errorf("authenticating to %s: reply %.100q, %v", fw.addr, line, err)
		}
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("clearing the deadline on %s: %w", fw.addr, err)
	}
	dead = make(chan struct{})
	go fw.drain(rd, dead)
	return nc, dead, nil
}

// drain reads the peer's replies (receiver counts) so its output never backs up, logs
// the first error reply of the connection, and closes dead when the connection ends, so
// the writer redials before its next write rather than losing it.
func (fw *forwarder) drain(rd *bufio.Reader, dead chan struct{}) {
	defer close(dead)
	logged := false
	for {
		line, err := rd.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			continue // the rest of a long error reply follows
		}
		if err != nil {
			return
		}
		if len(line) > 0 && line[0] == '-' && !logged {
			logged = true
			fw.s.log.Warn("pub/sub forwarding: peer refused a message", "peer", fw.addr, "reply", string(line))
		}
	}
}

// cmdPublishLocal is PUBLISHLOCAL channel message, the internal command a peer forwards
// a classic PUBLISH with: delivered to this instance's subscribers only, never forwarded.
func cmdPublishLocal(c *conn, args [][]byte) {
	if !c.internalAllowed("PUBLISHLOCAL") {
		return
	}
	c.wr.Int(c.s.publish(kindChannel, args[1], args[2]))
}

// forwardInfo is the forwarding part of INFO stats.
func (s *Server) forwardInfo() [2]string {
	return [2]string{"pubsub_forward_dropped", strconv.FormatInt(s.pubsub.forwards.dropped.Load(), 10)}
}
