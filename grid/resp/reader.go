package resp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxBulkLen is Redis's default proto-max-bulk-len: 512 MB.
const DefaultMaxBulkLen = 512 << 20

const (
	// maxInline is Redis's PROTO_INLINE_MAX_SIZE: the longest inline command line and the
	// longest multibulk or bulk header accepted.
	maxInline   = 64 << 10
	maxArgs     = 1<<31 - 1
	minReadSize = 16 << 10
)

// ProtocolError is malformed input. Redis answers it with "-ERR Protocol error: ..." and
// closes the connection; the server does the same, for that client alone.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return "Protocol error: " + e.Msg }

func protoErr(format string, a ...any) error { return &ProtocolError{Msg: fmt.Sprintf(format, a...)} }

// Reader parses commands (arrays of bulk strings, or inline lines) from a stream.
type Reader struct {
	rd   io.Reader
	buf  []byte
	r, w int // unread input is buf[r:w]

	maxBulk int64
	// budget, when set, lends the memory of buffers above largeBuffer; held is what this
	// Reader has of it.
	budget *Budget
	held   int64

	// State of the multibulk command being assembled, so a command split over many reads
	// is not parsed again from its start. Offsets are relative to buf[r], which stays the
	// command's first byte until it is complete (compaction moves both together).
	argc int // arguments expected; -1 when no multibulk command is in progress
	pos  int // next byte to parse, relative to r
	offs []int
	args [][]byte
	// scanned counts the bytes of the current line already searched for '\n', so a line
	// trickling in byte by byte is not searched again from its start on every read.
	scanned int
	// reads counts the calls to rd.Read.
	reads uint64
}

// NewReader returns a Reader on rd accepting bulk strings up to maxBulk bytes
// (DefaultMaxBulkLen when maxBulk <= 0).
func NewReader(rd io.Reader, maxBulk int64) *Reader {
	if maxBulk <= 0 {
		maxBulk = DefaultMaxBulkLen
	}
	return &Reader{rd: rd, buf: make([]byte, minReadSize), maxBulk: maxBulk, argc: -1}
}

// SetBudget makes the Reader borrow from b the memory of its buffer whenever the buffer
// grows past largeBuffer, and wait for it when b is spent.
func (r *Reader) SetBudget(b *Budget) { r.budget = b }

// Release gives back what the Reader holds of its budget; the Reader must not be used
// afterwards.
func (r *Reader) Release() {
	if r.budget != nil {
		r.budget.release(r.held)
		r.held = 0
	}
	r.buf = nil
}

// Buffered reports how many bytes were read from the stream but not yet parsed: the
// server flushes its replies only when this is zero, so a pipeline gets one write.
func (r *Reader) Buffered() int { return r.w - r.r }

// Reads counts the reads from the stream so far: when it is the same after a ReadCommand
// as before, the command was parsed from input already read, without waiting on the stream.
func (r *Reader) Reads() uint64 { return r.reads }

// Detach returns a copy of the input read from the connection but not yet parsed, for a
// caller that takes the connection over for another protocol (replication).
func (r *Reader) Detach() []byte { return append([]byte(nil), r.buf[r.r:r.w]...) }

// Fill reads more input into the buffer without parsing it, for a connection whose
// commands wait (a blocked client): it returns the read error, which is how the closing
// of the connection is noticed meanwhile. It must not run concurrently with ReadCommand.
func (r *Reader) Fill() error { return r.fill(0) }

// ReadCommand returns the next command's arguments. The slices point into the Reader's
// buffer and are valid only until the next call. Empty commands (a blank inline line,
// "*0") are skipped, as Redis does. Errors are *ProtocolError for malformed input, or the
// error of the underlying reader (io.EOF when the client closed cleanly between commands).
func (r *Reader) ReadCommand() ([][]byte, error) {
	for {
		if r.argc < 0 {
			if r.r == r.w {
				if err := r.fill(0); err != nil {
					return nil, err
				}
				continue
			}
			if r.buf[r.r] != '*' {
				args, err := r.readInline()
				if err != nil {
					return nil, err
				}
				if len(args) == 0 {
					continue
				}
				return args, nil
			}
			n, ok, err := r.readHeader("mbulk")
			if err != nil {
				return nil, err
			}
			if !ok {
				if err := r.fill(0); err != nil {
					return nil, err
				}
				continue
			}
			if n > maxArgs {
				return nil, protoErr("invalid multibulk length")
			}
			if n <= 0 {
				r.r += r.pos
				r.pos = 0
				continue
			}
			r.argc = int(n)
			r.offs = r.offs[:0]
		}
		done, err := r.readArgs()
		if err != nil {
			return nil, err
		}
		if done {
			return r.finish(), nil
		}
	}
}

// readHeader parses "<prefix char><int>\r\n" at r.pos. ok is false when the line is not
// complete yet; kind names the header in Redis's error wording.
func (r *Reader) readHeader(kind string) (n int64, ok bool, err error) {
	start := r.r + r.pos
	nl := r.findLine(start)
	if nl < 0 {
		if r.w-start > maxInline {
			return 0, false, protoErr("too big %s count string", kind)
		}
		return 0, false, nil
	}
	line := r.buf[start+1 : start+nl]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	v, valid := parseInt(line)
	if !valid {
		if kind == "mbulk" {
			return 0, false, protoErr("invalid multibulk length")
		}
		return 0, false, protoErr("invalid bulk length")
	}
	r.pos += nl + 1
	return v, true, nil
}

// readArgs parses bulk strings until the command is complete (done) or input runs out,
// reading more from the stream as needed.
func (r *Reader) readArgs() (done bool, err error) {
	for len(r.offs)/2 < r.argc {
		if r.r+r.pos >= r.w {
			if err := r.fill(0); err != nil {
				return false, err
			}
			continue
		}
		if c := r.buf[r.r+r.pos]; c != '$' {
			return false, protoErr("expected '$', got '%c'", c)
		}
		save := r.pos
		n, ok, err := r.readHeader("bulk")
		if err != nil {
			return false, err
		}
		if !ok {
			if err := r.fill(0); err != nil {
				return false, err
			}
			continue
		}
		if n < 0 || n > r.maxBulk {
			return false, protoErr("invalid bulk length")
		}
		need := r.pos + int(n) + 2
		if r.w-r.r < need {
			// Parse the header again after the body arrived: the state stays simple and
			// the header is a few bytes.
			r.pos = save
			if err := r.fill(need); err != nil {
				return false, err
			}
			continue
		}
		r.offs = append(r.offs, r.pos, r.pos+int(n))
		r.pos = need
	}
	return true, nil
}

func (r *Reader) finish() [][]byte {
	args := r.args[:0]
	base := r.buf[r.r:]
	for i := 0; i < len(r.offs); i += 2 {
		args = append(args, base[r.offs[i]:r.offs[i+1]:r.offs[i+1]])
	}
	r.args = args
	r.r += r.pos
	r.pos = 0
	r.argc = -1
	if cap(r.offs) > 1<<16 {
		r.offs = nil // a huge MSET must not pin its offsets for the connection's life
	}
	return args
}

// fill reads more input, keeping buf[r:w] and making room for at least need bytes from r
// (0: any amount). The buffer grows by doubling towards need rather than to need at once,
// so a client announcing a huge bulk string costs memory only as it actually sends it.
func (r *Reader) fill(need int) error {
	avail := r.w - r.r
	size := 2 * len(r.buf)
	if need <= avail {
		need = avail + 1
	} else if need < size {
		size = need // the size of a known bulk string: no further than that
	}
	if r.r > 0 && r.r+need > len(r.buf) {
		copy(r.buf, r.buf[r.r:r.w])
		r.r, r.w = 0, avail
	}
	switch {
	case need > len(r.buf):
		if r.budget != nil && size > largeBuffer {
			// The old buffer is dropped right after the copy, so only the growth is asked for.
			if err := r.budget.acquire(int64(size), r.held); err != nil {
				return err
			}
			r.held = int64(size)
		}
		nb := make([]byte, size)
		copy(nb, r.buf[r.r:r.w])
		r.r, r.w = 0, avail
		r.buf = nb
	case avail == 0 && len(r.buf) > largeBuffer:
		// The buffer grew for one large command; give the memory back once it is consumed.
		r.buf = make([]byte, minReadSize)
		r.r, r.w = 0, 0
		if r.budget != nil {
			r.budget.release(r.held)
			r.held = 0
		}
	case avail == 0:
		r.r, r.w = 0, 0
	}
	for range 100 {
		r.reads++
		n, err := r.rd.Read(r.buf[r.w:])
		r.w += n
		if n > 0 {
			return nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) && (r.w > r.r || r.argc >= 0) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return io.ErrNoProgress
}

// readInline parses one inline command line with Redis's quoting rules (sdssplitargs),
// unquoting in place. It returns no arguments for a blank line.
func (r *Reader) readInline() ([][]byte, error) {
	for {
		nl := r.findLine(r.r)
		if nl < 0 {
			if r.w-r.r > maxInline {
				return nil, protoErr("too big inline request")
			}
			if err := r.fill(0); err != nil {
				return nil, err
			}
			continue
		}
		line := r.buf[r.r : r.r+nl]
		r.r += nl + 1
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		args, ok := splitArgs(line, r.args[:0])
		if !ok {
			return nil, protoErr("unbalanced quotes in request")
		}
		r.args = args
		return args, nil
	}
}

// findLine returns the offset of the next '\n' from start, or -1, remembering how far it
// searched.
func (r *Reader) findLine(start int) int {
	nl := bytes.IndexByte(r.buf[start+r.scanned:r.w], '\n')
	if nl < 0 {
		r.scanned = r.w - start
		return -1
	}
	nl += r.scanned
	r.scanned = 0
	return nl
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f' || c == 0
}

// closesArg reports whether the quote at line[p] may close an argument: a closing quote,
// double or single, must be followed by a space or the end of the line.
func closesArg(line []byte, p int) bool {
	return p+1 >= len(line) || isSpace(line[p+1])
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// splitArgs is Redis's sdssplitargs, writing each unquoted argument over the line itself
// (output never outgrows input) and appending the results to args.
func splitArgs(line []byte, args [][]byte) ([][]byte, bool) {
	p := 0
	for {
		for p < len(line) && isSpace(line[p]) {
			p++
		}
		if p == len(line) {
			return args, true
		}
		start := p // write position of this argument
		w := p
		inq, insq := false, false
		for done := false; !done; {
			if p >= len(line) {
				if inq || insq {
					return nil, false
				}
				break
			}
			c := line[p]
			switch {
			case inq:
				if c == '\\' && p+3 < len(line) && line[p+1] == 'x' {
					hi, ok1 := hexVal(line[p+2])
					lo, ok2 := hexVal(line[p+3])
					if ok1 && ok2 {
						line[w] = hi<<4 | lo
						w++
						p += 4
						continue
					}
				}
				if c == '\\' && p+1 < len(line) {
					p++
					switch line[p] {
					case 'n':
						c = '\n'
					case 'r':
						c = '\r'
					case 't':
						c = '\t'
					case 'b':
						c = '\b'
					case 'a':
						c = '\a'
					default:
						c = line[p]
					}
					line[w] = c
					w++
				} else if c == '"' {
					if !closesArg(line, p) {
						return nil, false
					}
					done = true
				} else {
					line[w] = c
					w++
				}
			case insq:
				if c == '\\' && p+1 < len(line) && line[p+1] == '\'' {
					p++
					line[w] = '\''
					w++
				} else if c == '\'' {
					if !closesArg(line, p) {
						return nil, false
					}
					done = true
				} else {
					line[w] = c
					w++
				}
			default:
				switch {
				case isSpace(c):
					done = true
				case c == '"':
					inq = true
				case c == '\'':
					insq = true
				default:
					line[w] = c
					w++
				}
			}
			if p < len(line) {
				p++
			}
		}
		args = append(args, line[start:w:w])
	}
}

// parseInt parses a decimal int64 the way Redis's string2ll does for protocol headers:
// optional '-', digits only, no overflow.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	neg := false
	if b[0] == '-' {
		neg = true
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
		if n > 1<<63 {
			return 0, false
		}
	}
	if neg {
		return -int64(n), true
	}
	if n > 1<<63-1 {
		return 0, false
	}
	return int64(n), true
}
