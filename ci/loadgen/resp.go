package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// respConn is a bare RESP2 connection for the fill and oom modes: commands are appended to
// a buffer and sent in one write, so a pipeline of thousands costs the client almost
// nothing next to the server it measures (go-redis allocates per command).
type respConn struct {
	c       net.Conn
	r       *bufio.Reader
	buf     []byte
	timeout time.Duration
}

func dialRESP(addr string, timeout time.Duration) (*respConn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", addr, err)
	}
	return &respConn{c: c, r: bufio.NewReaderSize(c, 64<<10), timeout: timeout}, nil
}

func (rc *respConn) Close() error { return rc.c.Close() }

// appendCmd adds one command to the pending buffer.
func (rc *respConn) appendCmd(args ...[]byte) {
	rc.buf = append(rc.buf, '*')
	rc.buf = strconv.AppendInt(rc.buf, int64(len(args)), 10)
	rc.buf = append(rc.buf, '\r', '\n')
	for _, a := range args {
		rc.buf = append(rc.buf, '$')
		rc.buf = strconv.AppendInt(rc.buf, int64(len(a)), 10)
		rc.buf = append(rc.buf, '\r', '\n')
		rc.buf = append(rc.buf, a...)
		rc.buf = append(rc.buf, '\r', '\n')
	}
}

// flush sends the pending commands.
func (rc *respConn) flush() error {
	if err := rc.c.SetWriteDeadline(time.Now().Add(rc.timeout)); err != nil {
		return err
	}
	_, err := rc.c.Write(rc.buf)
	rc.buf = rc.buf[:0]
	return err
}

// errReply is a RESP error reply ("-OOM ...").
type errReply string

func (e errReply) Error() string { return string(e) }

// readReply reads one reply: the payload of a simple string, integer or bulk string (an
// array's elements are read and dropped, nil for it), or an errReply for an error reply.
func (rc *respConn) readReply() ([]byte, error) {
	if err := rc.c.SetReadDeadline(time.Now().Add(rc.timeout)); err != nil {
		return nil, err
	}
	line, err := rc.r.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("malformed reply %q", line)
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+', ':':
		return body, nil
	case '-':
		return nil, errReply(body)
	case '$':
		n, err := strconv.Atoi(string(body))
		if err != nil {
			return nil, fmt.Errorf("malformed bulk length %q", body)
		}
		if n < 0 {
			return nil, nil
		}
		b := make([]byte, n+2)
		if _, err := readFull(rc.r, b); err != nil {
			return nil, err
		}
		return b[:n], nil
	case '*':
		n, err := strconv.Atoi(string(body))
		if err != nil {
			return nil, fmt.Errorf("malformed array length %q", body)
		}
		for range max(n, 0) {
			if _, err := rc.readReply(); err != nil {
				var er errReply
				if !errors.As(err, &er) {
					return nil, err
				}
			}
		}
		return nil, nil
	}
	return nil, fmt.Errorf("unexpected reply %q", line)
}

// readValue reads one reply whole: []byte for a simple or bulk string, int64 for an
// integer, nil for a null, []any for an array (an error element as an errReply value), or
// an errReply error for a top-level error reply.
func (rc *respConn) readValue() (any, error) {
	if err := rc.c.SetReadDeadline(time.Now().Add(rc.timeout)); err != nil {
		return nil, err
	}
	return rc.value()
}

func (rc *respConn) value() (any, error) {
	line, err := rc.r.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("malformed reply %q", line)
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+':
		return append([]byte(nil), body...), nil
	case '-':
		return nil, errReply(body)
	case ':':
		n, err := strconv.ParseInt(string(body), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("malformed integer %q", body)
		}
		return n, nil
	case '$', '*':
		n, err := strconv.Atoi(string(body))
		if err != nil {
			return nil, fmt.Errorf("malformed length %q", body)
		}
		if n < 0 {
			return nil, nil
		}
		if line[0] == '$' {
			b := make([]byte, n+2)
			if _, err := readFull(rc.r, b); err != nil {
				return nil, err
			}
			return b[:n], nil
		}
		elems := make([]any, n)
		for i := range elems {
			v, err := rc.value()
			var er errReply
			if errors.As(err, &er) {
				v, err = er, nil
			}
			if err != nil {
				return nil, err
			}
			elems[i] = v
		}
		return elems, nil
	}
	return nil, fmt.Errorf("unexpected reply %q", line)
}

func readFull(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// do sends one command and reads its reply.
func (rc *respConn) do(args ...string) ([]byte, error) {
	bs := make([][]byte, len(args))
	for i, a := range args {
		bs[i] = []byte(a)
	}
	rc.appendCmd(bs...)
	if err := rc.flush(); err != nil {
		return nil, err
	}
	return rc.readReply()
}

// infoField is the value of NAME in an INFO answer ("" when absent).
func infoField(info []byte, name string) string {
	prefix := name + ":"
	for len(info) > 0 {
		i := 0
		for i < len(info) && info[i] != '\n' {
			i++
		}
		line := string(info[:i])
		if i < len(info) {
			i++
		}
		info = info[i:]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if len(line) > len(prefix) && line[:len(prefix)] == prefix {
			return line[len(prefix):]
		}
	}
	return ""
}
