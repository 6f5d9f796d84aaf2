package crilog

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 5, 18, 0, 0, 0, time.UTC)

// writeLog logs the lines (stream, text) one second apart from t0.
func writeLog(t *testing.T, lines ...[2]string) (path string, plain *bytes.Buffer) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "0.log")
	plain = &bytes.Buffer{}
	w, err := Create(path, plain)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	w.now = func() time.Time { return t0.Add(time.Duration(i) * time.Second) }
	for _, l := range lines {
		if err := w.Copy(Stream(l[0]), strings.NewReader(l[1])); err != nil {
			t.Fatal(err)
		}
		i++
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path, plain
}

func TestWriteFormat(t *testing.T) {
	long := strings.Repeat("x", maxLine+10)
	path, plain := writeLog(t, [2]string{"stdout", "one\n"}, [2]string{"stderr", "two\n"}, [2]string{"stdout", long + "\n"}, [2]string{"stdout", "no newline"})
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "2026-12-05T18:00:00.000000000Z stdout F one\n" +
		"2026-12-05T18:00:01.000000000Z stderr F two\n" +
		"2026-12-05T18:00:02.000000000Z stdout P " + long[:maxLine] + "\n" +
		"2026-12-05T18:00:02.000000000Z stdout F " + long[maxLine:] + "\n" +
		"2026-12-05T18:00:03.000000000Z stdout P no newline\n"
	if string(got) != want {
		t.Errorf("log file:\n%q\nwant\n%q", got, want)
	}
	if p := plain.String(); p != "one\ntwo\n"+long+"\nno newline" {
		t.Errorf("plain copy = %q", p)
	}
}

func TestRead(t *testing.T) {
	long := strings.Repeat("y", maxLine+5)
	path, _ := writeLog(t,
		[2]string{"stdout", "a\n"}, [2]string{"stderr", "b\n"}, [2]string{"stdout", "c\n"},
		[2]string{"stdout", long + "\n"}, [2]string{"stderr", "e\n"})
	cases := []struct {
		name         string
		opts         Options
		noOut, noErr bool
		want         string
	}{
		{name: "all", opts: Options{TailLines: -1}, want: "a\nb\nc\n" + long + "\ne\n"},
		{name: "tail 2", opts: Options{TailLines: 2}, want: long[maxLine:] + "\ne\n"},
		{name: "tail 3 keeps a split line whole", opts: Options{TailLines: 3}, want: long + "\ne\n"},
		{name: "tail 0", opts: Options{TailLines: 0}, want: ""},
		{name: "tail more than there is", opts: Options{TailLines: 100}, want: "a\nb\nc\n" + long + "\ne\n"},
		{name: "since", opts: Options{TailLines: -1, Since: t0.Add(2 * time.Second)}, want: "c\n" + long + "\ne\n"},
		{name: "limit", opts: Options{TailLines: -1, LimitBytes: 5}, want: "a\nb\nc"},
		{name: "timestamps", opts: Options{TailLines: 2, Timestamps: true}, want: "2026-12-05T18:00:03.000000000Z " + long[maxLine:] + "\n2026-12-05T18:00:04.000000000Z e\n"},
		{name: "timestamps once per split line", opts: Options{TailLines: 3, Timestamps: true},
			want: "2026-12-05T18:00:03.000000000Z " + long + "\n2026-12-05T18:00:04.000000000Z e\n"},
		{name: "stdout only", opts: Options{TailLines: -1}, noErr: true, want: "a\nc\n" + long + "\n"},
		{name: "stderr only", opts: Options{TailLines: -1}, noOut: true, want: "b\ne\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			var out, errw io.Writer = &buf, &buf
			if tc.noOut {
				out = nil
			}
			if tc.noErr {
				errw = nil
			}
			if err := Read(context.Background(), path, tc.opts, out, errw, func() bool { return false }); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tc.want {
				t.Errorf("got %q\nwant %q", buf.String(), tc.want)
			}
		})
	}
}

func TestReadMissingFile(t *testing.T) {
	err := Read(context.Background(), filepath.Join(t.TempDir(), "none.log"), Options{TailLines: -1}, io.Discard, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "none.log") {
		t.Fatalf("err = %v, want one naming the file", err)
	}
}

// lockedBuffer is written by Read and polled by the test.
type lockedBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.String()
}

func TestFollowUntilTheRunEnds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w, err := Create(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	copied := make(chan error, 1)
	go func() { copied <- w.Copy(Stdout, pr) }()
	var live atomic.Bool
	live.Store(true)
	out := &lockedBuffer{mu: make(chan struct{}, 1)}
	read := make(chan error, 1)
	go func() {
		read <- Read(context.Background(), path, Options{TailLines: -1, Follow: true}, out, out, live.Load)
	}()
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for out.String() != want {
			if time.Now().After(deadline) {
				t.Fatalf("followed output %q, want %q", out.String(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if _, err := io.WriteString(pw, "first\n"); err != nil {
		t.Fatal(err)
	}
	waitFor("first\n")
	if _, err := io.WriteString(pw, "second\nlast\n"); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-copied; err != nil {
		t.Fatal(err)
	}
	live.Store(false)
	select {
	case err := <-read:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not end after the run ended")
	}
	if got := out.String(); got != "first\nsecond\nlast\n" {
		t.Errorf("followed %q", got)
	}
}

func TestFollowEndsWithTheContext(t *testing.T) {
	path, _ := writeLog(t, [2]string{"stdout", "a\n"})
	ctx, cancel := context.WithCancel(context.Background())
	read := make(chan error, 1)
	go func() {
		read <- Read(ctx, path, Options{TailLines: -1, Follow: true}, io.Discard, io.Discard, func() bool { return true })
	}()
	cancel()
	select {
	case err := <-read:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not end with its context")
	}
}
