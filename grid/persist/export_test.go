package persist

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/insightgrid/insight/grid/store"
)

// TestWriteSnapshotReadSnapshot: a snapshot written to a stream and read back into an
// empty store recreates every key; the head and end records carry the position and count.
func TestWriteSnapshotReadSnapshot(t *testing.T) {
	src := filled(t)
	var buf bytes.Buffer
	keys, err := WriteSnapshot(context.Background(), &buf, src, 3, 42)
	if err != nil {
		t.Fatal(err)
	}
	dst := store.New(1 << 29)
	info, err := ReadSnapshot(bytes.NewReader(buf.Bytes()), dst.Apply)
	if err != nil {
		t.Fatal(err)
	}
	if info != (SnapshotInfo{Epoch: 3, Seq: 42, Keys: keys}) || keys != uint64(len(contents(src))) {
		t.Fatalf("read %+v, wrote %d keys; want epoch 3, seq 42 and %d keys", info, keys, len(contents(src)))
	}
	if got, want := contents(dst), contents(src); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("restored store differs: %d operations, want %d", len(got), len(want))
	}
}

// TestReadSnapshotRefusesDamage: a flipped byte, a cut, trailing bytes, a wrong count or
// something that is not a snapshot is refused with what is wrong.
func TestReadSnapshotRefusesDamage(t *testing.T) {
	var good bytes.Buffer
	if _, err := WriteSnapshot(context.Background(), &good, filled(t), 1, 1); err != nil {
		t.Fatal(err)
	}
	g := good.Bytes()
	flip := bytes.Clone(g)
	flip[len(flip)-3] ^= 0x40 // in the end record's payload
	var short bytes.Buffer
	w := NewSnapshotWriter(&short, 1, 1)
	if err := w.Op(contentsOps(t)[0]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lying := bytes.Clone(short.Bytes())
	lying = append(lying[:len(lying)-frameHeader-2], appendRecord(nil, recSnapEnd, nil, 2)...)
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"flipped byte", flip, "checksum mismatch"},
		{"cut", g[:len(g)-20], "truncated"},
		{"no end record", g[:len(g)-frameHeader-2], "no end record"},
		{"trailing bytes", append(bytes.Clone(g), appendRecord(nil, recSnapOp, []byte{1})...), "bytes after the end record"},
		{"wrong count", lying, "counts 2 keys, the snapshot holds 1"},
		{"journal", []byte(journalMagic), "not a INSGSNP1 file"},
		{"empty", nil, "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadSnapshot(bytes.NewReader(tc.b), func([]byte) error { return nil })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ReadSnapshot: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func contentsOps(t *testing.T) [][]byte {
	t.Helper()
	var out [][]byte
	for _, s := range contents(filled(t)) {
		out = append(out, []byte(s))
	}
	return out
}
