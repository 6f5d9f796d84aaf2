package manager

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// respConn is a RESP2 client connection to a data instance, for the key browser's
// read-only commands: one command out, one reply in.
type respConn struct {
	nc net.Conn
	br *bufio.Reader
}

// respError is an error reply (-ERR ...): the connection stays usable.
type respError string

func (e respError) Error() string { return string(e) }

// maxReplyBulk bounds one bulk string read from a data instance: the commands sent ask
// for bounded values (GETRANGE, COUNT), this only guards against a broken peer.
const maxReplyBulk = 1 << 20

// dialRESP connects to addr (over TLS with tlsCfg unless nil) and authenticates with
// password unless empty.
func dialRESP(addr, password string, tlsCfg *tls.Config, timeout time.Duration) (*respConn, error) {
	d := &net.Dialer{Timeout: timeout}
	var nc net.Conn
	var err error
	if tlsCfg != nil {
		nc, err = tls.DialWithDialer(d, "tcp", addr, tlsCfg)
	} else {
		nc, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", addr, err)
	}
	c := &respConn{nc: nc, br: bufio.NewReader(nc)}
	if password != "" {
		if _, err := c.do(timeout, "AUTH", password); err != nil {
			c.close()
			return nil, fmt.Errorf("AUTH at %s: %w", addr, err)
		}
	}
	return c, nil
}

func (c *respConn) close() { _ = c.nc.Close() }

// do sends one command and reads its reply: string ([]byte), int64, nil, []any, or a
// respError.
func (c *respConn) do(timeout time.Duration, args ...string) (any, error) {
	_ = c.nc.SetDeadline(time.Now().Add(timeout))
	buf := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		buf = append(buf, "$"+strconv.Itoa(len(a))+"\r\n"...)
		buf = append(buf, a...)
		buf = append(buf, "\r\n"...)
	}
	if _, err := c.nc.Write(buf); err != nil {
		return nil, fmt.Errorf("sending %s: %w", args[0], err)
	}
	v, err := readReply(c.br, 0)
	if err != nil {
		var re respError
		if errors.As(err, &re) {
			return nil, err
		}
		return nil, fmt.Errorf("reading the reply to %s: %w", args[0], err)
	}
	return v, nil
}

// readReply reads one RESP2 reply, nesting at most 4 arrays deep.
func readReply(br *bufio.Reader, depth int) (any, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, errors.New("malformed reply line")
	}
	body := string(line[1 : len(line)-2])
	switch line[0] {
	case '+':
		return []byte(body), nil
	case '-':
		return nil, respError(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n > maxReplyBulk {
			return nil, fmt.Errorf("bulk length %q", body)
		}
		if n < 0 {
			return nil, nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, err
		}
		return b[:n], nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || depth > 4 || n > 1<<16 {
			return nil, fmt.Errorf("array length %q at depth %d", body, depth)
		}
		if n < 0 {
			return nil, nil
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = readReply(br, depth+1); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown reply type %q", line[0])
}
