package resp

import (
	"io"
	"math"
	"strconv"
	"strings"
)

// Writer appends replies to a buffer; nothing reaches the stream before Flush. RESP3-only
// types (maps, sets, nulls, doubles, booleans, verbatim strings) fall back to their RESP2
// encodings unless Proto is 3, as Redis does after HELLO.
type Writer struct {
	w     io.Writer
	buf   []byte
	Proto int
}

const (
	writerSize = 16 << 10
	// FlushThreshold is the buffered size past which the server flushes even though more
	// input is waiting, so a long pipeline does not buffer its whole answer.
	FlushThreshold = 64 << 10
)

// NewWriter returns a RESP2 Writer on w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, buf: make([]byte, 0, writerSize), Proto: 2}
}

// Len is the number of buffered bytes.
func (w *Writer) Len() int { return len(w.buf) }

// Bytes returns the buffered replies; valid until the next write.
func (w *Writer) Bytes() []byte { return w.buf }

// Flush writes the buffered replies to the stream.
func (w *Writer) Flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.w.Write(w.buf)
	if cap(w.buf) > 4*FlushThreshold {
		// One huge reply (KEYS, a big GET) must not pin its buffer for the connection's life.
		w.buf = make([]byte, 0, writerSize)
	} else {
		w.buf = w.buf[:0]
	}
	return err
}

func (w *Writer) header(prefix byte, n int64) {
	w.buf = append(w.buf, prefix)
	w.buf = strconv.AppendInt(w.buf, n, 10)
	w.buf = append(w.buf, '\r', '\n')
}

// Simple writes a simple string ("+OK"). s must not contain CR or LF.
func (w *Writer) Simple(s string) {
	w.buf = append(w.buf, '+')
	w.buf = append(w.buf, s...)
	w.buf = append(w.buf, '\r', '\n')
}

// OK writes +OK.
func (w *Writer) OK() { w.buf = append(w.buf, "+OK\r\n"...) }

// Error writes an error reply; msg starts with its code ("ERR ...", "WRONGTYPE ...").
// CR and LF would end the reply early, so they become spaces, as in Redis.
func (w *Writer) Error(msg string) {
	w.buf = append(w.buf, '-')
	if strings.ContainsAny(msg, "\r\n") {
		msg = strings.NewReplacer("\r", " ", "\n", " ").Replace(msg)
	}
	w.buf = append(w.buf, msg...)
	w.buf = append(w.buf, '\r', '\n')
}

// Int writes an integer reply.
func (w *Writer) Int(n int64) { w.header(':', n) }

// Bulk writes a bulk string.
func (w *Writer) Bulk(b []byte) {
	w.header('$', int64(len(b)))
	w.buf = append(w.buf, b...)
	w.buf = append(w.buf, '\r', '\n')
}

// BulkString writes a bulk string.
func (w *Writer) BulkString(s string) {
	w.header('$', int64(len(s)))
	w.buf = append(w.buf, s...)
	w.buf = append(w.buf, '\r', '\n')
}

// Null writes the null bulk string (RESP2 "$-1", RESP3 "_").
func (w *Writer) Null() {
	if w.Proto == 3 {
		w.buf = append(w.buf, "_\r\n"...)
		return
	}
	w.buf = append(w.buf, "$-1\r\n"...)
}

// NullArray writes the null array (RESP2 "*-1", RESP3 "_").
func (w *Writer) NullArray() {
	if w.Proto == 3 {
		w.buf = append(w.buf, "_\r\n"...)
		return
	}
	w.buf = append(w.buf, "*-1\r\n"...)
}

// Array starts an array of n elements; the caller writes them next.
func (w *Writer) Array(n int) { w.header('*', int64(n)) }

// Push starts an out-of-band push of n elements (RESP3 ">": pub/sub messages and
// subscription confirmations; RESP2: an array).
func (w *Writer) Push(n int) {
	if w.Proto == 3 {
		w.header('>', int64(n))
		return
	}
	w.header('*', int64(n))
}

// SetStream makes Flush write to out from now on (a subscriber's queue instead of its
// socket).
func (w *Writer) SetStream(out io.Writer) { w.w = out }

// Map starts a map of n key/value pairs (RESP2: an array of 2n elements).
func (w *Writer) Map(n int) {
	if w.Proto == 3 {
		w.header('%', int64(n))
		return
	}
	w.header('*', int64(2*n))
}

// Set starts a set of n elements (RESP2: an array).
func (w *Writer) Set(n int) {
	if w.Proto == 3 {
		w.header('~', int64(n))
		return
	}
	w.header('*', int64(n))
}

// Verbatim writes a verbatim text string (RESP3 "=", format "txt"; RESP2: a bulk string),
// which redis-cli prints with its line breaks, as for INFO and CLUSTER NODES.
func (w *Writer) Verbatim(s string) {
	if w.Proto == 3 {
		w.header('=', int64(len(s)+4))
		w.buf = append(w.buf, "txt:"...)
		w.buf = append(w.buf, s...)
		w.buf = append(w.buf, '\r', '\n')
		return
	}
	w.BulkString(s)
}

// Double writes a floating-point reply as Redis 7.0 does: RESP3 ",<%.17g>" (",inf",
// ",-inf"), RESP2 a bulk string of the same text.
func (w *Writer) Double(f float64) {
	var tmp [32]byte
	s := tmp[:0]
	switch {
	case math.IsInf(f, 1):
		s = append(s, "inf"...)
	case math.IsInf(f, -1):
		s = append(s, "-inf"...)
	default:
		s = strconv.AppendFloat(s, f, 'g', 17, 64)
	}
	if w.Proto == 3 {
		w.buf = append(w.buf, ',')
		w.buf = append(w.buf, s...)
		w.buf = append(w.buf, '\r', '\n')
		return
	}
	w.Bulk(s)
}
