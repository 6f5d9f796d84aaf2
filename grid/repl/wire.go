package repl

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The replication stream. After the backup's REPLSYNC command is answered with
// +CONTINUE or +FULLSYNC, both sides exchange frames: a 4-byte big-endian length of the
// rest, a type byte, and the fields below (big-endian integers).
//
//	primary → backup
//	  'o' seq u64, epoch u64, op       one journaled change (the ring stores these as they are sent)
//	  'h' epoch u64, head u64, stamp i64   heartbeat, sent before every batch and at least every 100ms
//	  'S' epoch u64, seq u64           a snapshot follows; afterwards the backup is at seq
//	  's' op                           one key of the snapshot
//	  'E'                              end of the snapshot
//	  'p' epoch u64                    planned handover done: the backup is primary of epoch
//	backup → primary
//	  'a' applied u64, stamp i64       everything up to applied is applied; stamp echoes the last heartbeat
//	  'b'                              the backup is stopping
const (
	frameOp        byte = 'o'
	frameHeartbeat byte = 'h'
	frameSnapBegin byte = 'S'
	frameSnapOp    byte = 's'
	frameSnapEnd   byte = 'E'
	framePromote   byte = 'p'
	frameAck       byte = 'a'
	frameBye       byte = 'b'
)

// maxFrame bounds a frame a peer may announce: the largest value plus its key and header.
const maxFrame = 1<<30 + 1<<20

func appendFrame(b []byte, typ byte, fields ...uint64) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(1+8*len(fields)))
	b = append(b, typ)
	for _, f := range fields {
		b = binary.BigEndian.AppendUint64(b, f)
	}
	return b
}

func appendSnapOp(b, op []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(1+len(op)))
	b = append(b, frameSnapOp)
	return append(b, op...)
}

// frameReader reads frames, reusing one buffer.
type frameReader struct {
	r   *bufio.Reader
	buf []byte
}

var errBadFrame = errors.New("malformed replication frame")

// next returns the type and body of the next frame; the body is valid until the next call.
func (fr *frameReader) next() (byte, []byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(fr.r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n < 1 || n > maxFrame {
		return 0, nil, fmt.Errorf("%w: length %d", errBadFrame, n)
	}
	if cap(fr.buf) < int(n) {
		fr.buf = make([]byte, n)
	}
	b := fr.buf[:n]
	if _, err := io.ReadFull(fr.r, b); err != nil {
		return 0, nil, err
	}
	return b[0], b[1:], nil
}

// u64s decodes n fixed fields from a frame body.
func u64s(body []byte, n int) ([]uint64, error) {
	if len(body) < 8*n {
		return nil, fmt.Errorf("%w: %d bytes for %d fields", errBadFrame, len(body), n)
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = binary.BigEndian.Uint64(body[8*i:])
	}
	return out, nil
}
