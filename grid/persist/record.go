package persist

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// The files. Both start with an 8-byte magic naming the file kind and format version,
// then hold records: a 4-byte little-endian length of the payload, the payload's CRC-32C
// (Castagnoli, little-endian), and the payload: a type byte and its fields (unsigned
// varints, then the operation's bytes to the end).
//
//	journal-<gen>.aof (magic INSGAOF1)
//	  'o' epoch, seq, op   one change of the store, numbered seq in epoch (the replication stream's numbering)
//	  'r'                  the store was emptied: a full sync from the primary follows
//	  'l' op               one key of that full sync
//	  'L' epoch, seq       the full sync is complete: the store is the primary's at seq of epoch
//	snapshot-<gen>.snap (magic INSGSNP1)
//	  'S' epoch, seq       the store as of seq of epoch; journal-<gen>.aof continues it
//	  's' op               one key (or the function libraries), or Config.Meta's state of a slot
//	  'E' count            the end: count 's' records came before
//
// An operation is the store's journal encoding (store.Apply replays it), so the files
// carry every type the store journals, the function libraries included, or one of
// Config.Meta's (WAN replication's metadata, with its own operation codes), which its
// ApplyOp replays.
const (
	journalMagic  = "INSGAOF1"
	snapshotMagic = "INSGSNP1"
	magicLen      = 8
	frameHeader   = 8
	// maxRecord bounds the length a record may announce: the largest value (1 GiB bulk
	// strings) plus its key and fields. A longer one is a damaged length.
	maxRecord = 1<<30 + 1<<20
)

// Record types.
const (
	recOp       byte = 'o'
	recReset    byte = 'r'
	recLoad     byte = 'l'
	recLoaded   byte = 'L'
	recSnapHead byte = 'S'
	recSnapOp   byte = 's'
	recSnapEnd  byte = 'E'
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendRecord appends one record of type typ with the numbers nums and then op.
func appendRecord(b []byte, typ byte, op []byte, nums ...uint64) []byte {
	start := len(b)
	b = append(b, make([]byte, frameHeader)...)
	b = append(b, typ)
	for _, n := range nums {
		b = binary.AppendUvarint(b, n)
	}
	b = append(b, op...)
	payload := b[start+frameHeader:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(payload, castagnoli))
	return b
}

// record is a decoded payload.
type record struct {
	typ        byte
	epoch, seq uint64 // 'o', 'L', 'S'; seq is the count of 'E'
	op         []byte // 'o', 'l', 's': valid until the next read
}

// fields is how many numbers each type carries.
func fields(typ byte) (int, bool) {
	switch typ {
	case recOp, recLoaded, recSnapHead:
		return 2, true
	case recSnapEnd:
		return 1, true
	case recReset, recLoad, recSnapOp:
		return 0, true
	}
	return 0, false
}

// parseRecord decodes a payload whose checksum matched.
func parseRecord(p []byte) (record, error) {
	if len(p) == 0 {
		return record{}, errors.New("empty record")
	}
	r := record{typ: p[0]}
	n, ok := fields(r.typ)
	if !ok {
		return record{}, fmt.Errorf("unknown record type %q", r.typ)
	}
	p = p[1:]
	var nums [2]uint64
	for i := range n {
		v, k := binary.Uvarint(p)
		if k <= 0 {
			return record{}, fmt.Errorf("record %q: malformed number", r.typ)
		}
		nums[i], p = v, p[k:]
	}
	switch r.typ {
	case recReset, recLoaded, recSnapHead, recSnapEnd:
		if len(p) != 0 {
			return record{}, fmt.Errorf("record %q: %d bytes past its fields", r.typ, len(p))
		}
	default:
		if len(p) == 0 {
			return record{}, fmt.Errorf("record %q: no operation", r.typ)
		}
	}
	if r.typ == recSnapEnd {
		r.seq = nums[0]
	} else {
		r.epoch, r.seq = nums[0], nums[1]
	}
	r.op = p
	return r, nil
}

// damage is why a file's records end before the file does.
type damage struct {
	off    int64 // where the first bad record starts
	reason string
}

func (d *damage) Error() string { return fmt.Sprintf("at byte %d: %s", d.off, d.reason) }

// reader reads a file's records.
type reader struct {
	r   *bufio.Reader
	off int64 // where the next record starts
	buf []byte
}

func newReader(r io.Reader) *reader { return &reader{r: bufio.NewReaderSize(r, 1<<20)} }

// magic reads the file's magic: io.EOF for an empty file, a *damage for a short one.
func (rd *reader) magic(want string) error {
	var m [magicLen]byte
	n, err := io.ReadFull(rd.r, m[:])
	switch {
	case n == 0 && err == io.EOF:
		return io.EOF
	case err != nil:
		return &damage{off: 0, reason: fmt.Sprintf("file header truncated: %d of %d bytes", n, magicLen)}
	case string(m[:]) != want:
		return fmt.Errorf("not a %s file: it starts with %q", want, m[:])
	}
	rd.off = magicLen
	return nil
}

// next returns the next record: io.EOF at the end of the file after a whole record, a
// *damage when the rest of the file is not a whole, intact record.
func (rd *reader) next() (record, error) {
	var h [frameHeader]byte
	n, err := io.ReadFull(rd.r, h[:])
	switch {
	case n == 0 && err == io.EOF:
		return record{}, io.EOF
	case err != nil:
		return record{}, &damage{off: rd.off, reason: fmt.Sprintf("truncated record header: %d of %d bytes", n, frameHeader)}
	}
	size := binary.LittleEndian.Uint32(h[:])
	if size == 0 || size > maxRecord {
		return record{}, &damage{off: rd.off, reason: fmt.Sprintf("record length %d out of range", size)}
	}
	if cap(rd.buf) < int(size) {
		rd.buf = make([]byte, size)
	}
	p := rd.buf[:size]
	if n, err := io.ReadFull(rd.r, p); err != nil {
		return record{}, &damage{off: rd.off, reason: fmt.Sprintf("truncated record: %d of %d bytes", n, size)}
	}
	if crc32.Checksum(p, castagnoli) != binary.LittleEndian.Uint32(h[4:]) {
		return record{}, &damage{off: rd.off, reason: "checksum mismatch"}
	}
	r, err := parseRecord(p)
	if err != nil {
		return record{}, &damage{off: rd.off, reason: err.Error()}
	}
	rd.off += frameHeader + int64(size)
	return r, nil
}

// countFrames measures r (the bytes cut from a file): its length, and the frames whose
// lengths chain from its start, so how many records a cut dropped, exact unless a length
// itself is damaged (then the frames up to it).
func countFrames(r io.Reader) (bytes int64, frames int, err error) {
	br := bufio.NewReaderSize(r, 1<<20)
	var h [frameHeader]byte
	for {
		n, err := io.ReadFull(br, h[:])
		bytes += int64(n)
		if n == 0 {
			return bytes, frames, ignoreEOF(err)
		}
		frames++
		size := int64(binary.LittleEndian.Uint32(h[:]))
		if n < frameHeader || size == 0 || size > maxRecord {
			m, err := io.Copy(io.Discard, br)
			return bytes + m, frames, err
		}
		m, err := io.CopyN(io.Discard, br, size)
		bytes += m
		if m < size {
			return bytes, frames, ignoreEOF(err)
		}
	}
}

func ignoreEOF(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return err
}
