package repl

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"
)

// frames splits ring bytes into (seq, epoch, op) triples.
func frames(t *testing.T, chunks [][]byte) (seqs []uint64, epochs []uint64, ops []string) {
	t.Helper()
	fr := frameReader{r: bufio.NewReader(bytes.NewReader(bytes.Join(chunks, nil)))}
	for {
		typ, body, err := fr.next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if typ != frameOp {
			t.Fatalf("frame type %q, want op", typ)
		}
		seqs = append(seqs, binary.BigEndian.Uint64(body))
		epochs = append(epochs, binary.BigEndian.Uint64(body[8:]))
		ops = append(ops, string(body[16:]))
	}
}

func TestLogNumbersAndReadsFromAnyPosition(t *testing.T) {
	l := NewLog(64 << 20)
	l.SetEpoch(3)
	for i := range 10 {
		l.Record(i%4, fmt.Appendf(nil, "op%d", i+1))
	}
	if l.Head() != 10 || l.SlotSeq(1) != 10 || l.SlotSeq(2) != 7 || l.SlotSeq(100) != 0 {
		t.Fatalf("head %d, slot seqs %d %d %d", l.Head(), l.SlotSeq(1), l.SlotSeq(2), l.SlotSeq(100))
	}
	for _, from := range []uint64{0, 4, 9, 10} {
		cur, ok := l.cursorAfter(from)
		if !ok {
			t.Fatalf("cursorAfter(%d) not found", from)
		}
		seqs, epochs, ops := frames(t, l.read(&cur, nil))
		if len(seqs) != int(l.Head()-from) {
			t.Fatalf("from %d: %d frames, head %d", from, len(seqs), l.Head())
		}
		for i, s := range seqs {
			if s != from+uint64(i)+1 || epochs[i] != 3 || (s <= 10 && ops[i] != fmt.Sprintf("op%d", s)) {
				t.Fatalf("from %d: frame %d = seq %d epoch %d %q", from, i, s, epochs[i], ops[i])
			}
		}
		// The cursor continues with what comes later.
		l.Record(0, []byte("later"))
		seqs, _, _ = frames(t, l.read(&cur, nil))
		if len(seqs) != 1 || seqs[0] != l.Head() {
			t.Fatalf("after more records: %v, head %d", seqs, l.Head())
		}
	}
	if _, ok := l.cursorAfter(l.Head() + 1); ok {
		t.Error("cursorAfter beyond the head succeeded")
	}
}

func TestLogDropsOldChunksAndRestarts(t *testing.T) {
	l := NewLog(2 * chunkSize)
	op := bytes.Repeat([]byte("x"), 100<<10)
	for range 40 {
		l.Record(0, op)
	}
	if l.Oldest() == 1 {
		t.Fatal("nothing was dropped from a ring four times over its size")
	}
	if _, ok := l.cursorAfter(0); ok {
		t.Error("a dropped position is still readable")
	}
	cur, ok := l.cursorAfter(l.Oldest() - 1)
	if !ok {
		t.Fatal("the oldest kept position is not readable")
	}
	seqs, _, _ := frames(t, l.read(&cur, nil))
	if len(seqs) == 0 || seqs[len(seqs)-1] != 40 {
		t.Fatalf("read %d frames ending %v", len(seqs), seqs[len(seqs)-1:])
	}
	l.Restart(7, 1000)
	if l.Head() != 1000 || l.Epoch() != 7 || l.Oldest() != 1001 {
		t.Fatalf("after restart: head %d epoch %d oldest %d", l.Head(), l.Epoch(), l.Oldest())
	}
	l.Record(5, []byte("a"))
	cur, ok = l.cursorAfter(1000)
	if !ok {
		t.Fatal("restart position not readable")
	}
	if seqs, epochs, _ := frames(t, l.read(&cur, nil)); len(seqs) != 1 || seqs[0] != 1001 || epochs[0] != 7 {
		t.Fatalf("after restart read %v %v", seqs, epochs)
	}
}

func TestFrameReaderRejectsBadFrames(t *testing.T) {
	for name, in := range map[string][]byte{
		"zero length": {0, 0, 0, 0},
		"huge length": {0xff, 0xff, 0xff, 0xff, 'o'},
	} {
		fr := frameReader{r: bufio.NewReader(bytes.NewReader(in))}
		if _, _, err := fr.next(); !errors.Is(err, errBadFrame) {
			t.Errorf("%s: err = %v, want errBadFrame", name, err)
		}
	}
	fr := frameReader{r: bufio.NewReader(bytes.NewReader([]byte{0, 0, 0, 9, 'a', 1}))}
	if _, _, err := fr.next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated frame: err = %v", err)
	}
	if _, err := u64s([]byte{1, 2, 3}, 1); !errors.Is(err, errBadFrame) {
		t.Errorf("short fields: err = %v", err)
	}
	b := appendFrame(nil, frameAck, 42, 7)
	fr = frameReader{r: bufio.NewReader(bytes.NewReader(b))}
	typ, body, err := fr.next()
	if err != nil || typ != frameAck {
		t.Fatalf("ack frame: %q %v", typ, err)
	}
	if v, err := u64s(body, 2); err != nil || v[0] != 42 || v[1] != 7 {
		t.Fatalf("ack fields %v %v", v, err)
	}
}

func TestLogKeepsItsSizeOnlyOnceABackupAttached(t *testing.T) {
	op := bytes.Repeat([]byte("x"), 100<<10)
	l := NewLog(8 * chunkSize)
	for range 60 {
		l.Record(0, op)
	}
	if l.size > 2*chunkSize {
		t.Fatalf("without a backup the ring holds %d bytes, want at most two chunks", l.size)
	}
	l.Retain()
	from := l.Head()
	for range 60 {
		l.Record(0, op)
	}
	if l.size <= 4*chunkSize || l.size > 9*chunkSize {
		t.Fatalf("with a backup the ring holds %d bytes, want about its size %d", l.size, 8*chunkSize)
	}
	if _, ok := l.cursorAfter(from + 10); !ok {
		t.Fatal("a position recorded after Retain within the size is not readable")
	}
}

func TestLogWithoutABackupReusesItsChunkAndStillServesALaterBackup(t *testing.T) {
	l := NewLog(8 * chunkSize)
	op := bytes.Repeat([]byte("y"), 100)
	// Three times around the chunk allocates nothing (testing.AllocsPerRun would round a
	// chunk per thousands of writes down to 0, so this counts the allocations themselves).
	per := float64(chunkSize / (opHeader + len(op)))
	l.Record(1, op)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range int(3 * per) {
		l.Record(1, op)
	}
	runtime.ReadMemStats(&after)
	if n, b := after.Mallocs-before.Mallocs, after.TotalAlloc-before.TotalAlloc; b >= chunkSize {
		t.Fatalf("%.0f writes without a backup allocated %d times, %d bytes; want no new chunk", 3*per, n, b)
	}
	if l.size > chunkSize || l.Oldest() == 1 {
		t.Fatalf("without a backup the ring holds %d bytes from seq %d, want the newest chunk only", l.size, l.Oldest())
	}
	// A backup attaching now continues from any position the chunk still holds.
	l.Retain()
	from := l.Oldest()
	cur, ok := l.cursorAfter(from)
	if !ok {
		t.Fatalf("position %d in the kept chunk is not readable", from)
	}
	for range int(2 * per) {
		l.Record(2, op)
	}
	seqs, _, ops := frames(t, l.read(&cur, nil))
	if len(seqs) == 0 || seqs[0] != from+1 || seqs[len(seqs)-1] != l.Head() {
		t.Fatalf("read %d frames from %d, head %d", len(seqs), from, l.Head())
	}
	for i, s := range seqs {
		if s != from+1+uint64(i) || ops[i] != string(op) {
			t.Fatalf("frame %d: seq %d op %q", i, s, ops[i])
		}
	}
	if _, ok := l.cursorAfter(from); !ok {
		t.Fatal("once a backup attached, the ring dropped a position within its size")
	}
}

// BenchmarkLogRecordWithoutBackup is a write's cost in the redo ring of a partition with
// no backup attached: the target is no garbage.
func BenchmarkLogRecordWithoutBackup(b *testing.B) {
	l := NewLog(64 << 20)
	op := bytes.Repeat([]byte("z"), 40)
	b.ReportAllocs()
	for b.Loop() {
		l.Record(7, op)
	}
}
