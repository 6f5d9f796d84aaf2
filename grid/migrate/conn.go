package migrate

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/insightgrid/insight/grid/internal/tlsconf"
)

// conn is a RESP connection to a target partition's primary: commands out, one-line
// replies (+OK or -error) in.
type conn struct {
	addr string
	nc   net.Conn
	rd   *bufio.Reader
	wb   []byte
}

// replyError is an error reply of the target: the connection stays usable.
type replyError string

func (e replyError) Error() string { return string(e) }

func isReply(err error) bool {
	var re replyError
	return errors.As(err, &re)
}

// dial connects to addr (over TLS with tlsCfg unless nil) and authenticates with
// password unless empty.
func dial(addr, password string, tlsCfg *tls.Config, timeout time.Duration) (*conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	nc, err := tlsconf.DialContext(ctx, &net.Dialer{Timeout: timeout}, tlsCfg, addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", addr, err)
	}
	c := &conn{addr: addr, nc: nc, rd: bufio.NewReaderSize(nc, 4096)}
	if password != "" {
		if err := c.do(timeout, []byte("AUTH"), []byte(password)); err != nil {
			c.close()
			return nil, fmt.Errorf("authenticating to %s: %w", addr, err)
		}
	}
	return c, nil
}

func (c *conn) close() { _ = c.nc.Close() }

// slotImport sends SLOTIMPORT version slot ops... and waits for +OK.
func (c *conn) slotImport(version int64, slot int, ops [][]byte, timeout time.Duration) error {
	args := make([][]byte, 0, 3+len(ops))
	args = append(args, []byte("SLOTIMPORT"), strconv.AppendInt(nil, version, 10), strconv.AppendInt(nil, int64(slot), 10))
	return c.do(timeout, append(args, ops...)...)
}

// do sends one command and reads its one-line reply.
func (c *conn) do(timeout time.Duration, args ...[]byte) error {
	if err := c.nc.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	b := c.wb[:0]
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	c.wb = b
	if _, err := c.nc.Write(b); err != nil {
		return fmt.Errorf("writing to %s: %w", c.addr, err)
	}
	line, err := c.rd.ReadSlice('\n')
	if err != nil {
		return fmt.Errorf("reading the reply of %s: %w", c.addr, err)
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return fmt.Errorf("malformed reply from %s: %.100q", c.addr, line)
	}
	text := string(line[1 : len(line)-2])
	switch line[0] {
	case '+':
		return nil
	case '-':
		return replyError(text)
	}
	return fmt.Errorf("unexpected reply from %s: %.100q", c.addr, line)
}
