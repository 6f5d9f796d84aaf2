// Package crilog writes and reads container logs in the CRI log format that container runtimes
// write and the kubelet serves (one entry per line: "<timestamp> <stream> <P|F> <content>", a
// line longer than 16 KiB split into partial "P" entries), so the test node agent can answer
// kubectl logs with its options: follow, tailLines, timestamps, sinceSeconds/sinceTime,
// limitBytes and the stdout/stderr stream.
//
// It depends on the standard library only.
package crilog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Stream names one of a container's output streams.
type Stream string

// The two streams a container writes.
const (
	Stdout Stream = "stdout"
	Stderr Stream = "stderr"
)

const (
	// TimeFormat is the timestamp of an entry and of kubectl logs --timestamps (the kubelet's).
	TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"
	// maxLine is the longest content of one entry; longer lines become partial entries.
	maxLine = 16 * 1024
	tagFull = "F"
	tagPart = "P"
)

// Writer writes one container run's log. Its Copy methods may run concurrently, one per stream.
type Writer struct {
	mu    sync.Mutex
	f     *os.File
	plain io.Writer
	now   func() time.Time
}

// Create opens the log at path for appending. Every line is also written as is to plain (a
// human-readable copy; nil for none).
func Create(path string, plain io.Writer) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open container log: %w", err)
	}
	return &Writer{f: f, plain: plain, now: time.Now}, nil
}

// Copy reads the stream r until EOF and logs each line as it arrives.
func (w *Writer) Copy(stream Stream, r io.Reader) error {
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			if werr := w.entry(stream, tagFull, line[:len(line)-1], line); werr != nil {
				return werr
			}
		case errors.Is(err, bufio.ErrBufferFull) || len(line) > 0:
			if werr := w.entry(stream, tagPart, line, line); werr != nil {
				return werr
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return fmt.Errorf("read container %s: %w", stream, err)
		}
	}
}

func (w *Writer) entry(stream Stream, tag string, content, raw []byte) error {
	var b bytes.Buffer
	b.Grow(len(content) + 48)
	b.WriteString(w.now().UTC().Format(TimeFormat))
	b.WriteByte(' ')
	b.WriteString(string(stream))
	b.WriteByte(' ')
	b.WriteString(tag)
	b.WriteByte(' ')
	b.Write(content)
	b.WriteByte('\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.plain != nil {
		_, _ = w.plain.Write(raw) // the copy is best effort; the CRI log is what is served
	}
	if _, err := w.f.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write container log: %w", err)
	}
	return nil
}

// Close closes the log file.
func (w *Writer) Close() error { return w.f.Close() }

// Options select what Read returns; the zero value is the whole log, once.
type Options struct {
	Since      time.Time // entries before it are left out
	TailLines  int64     // only the last lines; negative for all
	LimitBytes int64     // stop after this many bytes; 0 for no limit
	Timestamps bool      // prefix each line with its timestamp
	Follow     bool      // keep writing new lines until the run ends or ctx is done
}

// PollInterval is how often a followed log is checked for new lines.
const PollInterval = 100 * time.Millisecond

// Read writes the log at path the way kubectl logs shows it: each entry's content to stdout or
// stderr by its stream (a nil writer leaves that stream out). With Follow it keeps reading new
// entries until running reports false (after a last read) or ctx is done.
func Read(ctx context.Context, path string, opts Options, stdout, stderr io.Writer, running func() bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("failed to open log file %q: %w", path, err)
	}
	defer f.Close()
	if opts.TailLines >= 0 {
		if _, err := f.Seek(tailStart(f, opts.TailLines), io.SeekStart); err != nil {
			return fmt.Errorf("seek log file %q: %w", path, err)
		}
	}
	out := &output{opts: opts, stdout: stdout, stderr: stderr, newLine: true}
	br := bufio.NewReaderSize(f, 64*1024)
	var pending []byte
	for {
		line, err := br.ReadBytes('\n')
		if err == nil {
			if len(pending) > 0 {
				line = append(pending, line...)
				pending = nil
			}
			if done, werr := out.entry(line[:len(line)-1]); werr != nil || done {
				return werr
			}
			continue
		}
		if !errors.Is(err, io.EOF) {
			return fmt.Errorf("read log file %q: %w", path, err)
		}
		// An entry being written: keep its start for the next read.
		pending = append(pending, line...)
		if !opts.Follow {
			return nil
		}
		live := running()
		if !live {
			// One last read for what the run wrote before it ended.
			if rest, rerr := io.ReadAll(br); rerr == nil && len(rest) > 0 {
				br.Reset(io.MultiReader(bytes.NewReader(rest), f))
				continue
			}
			return nil
		}
		t := time.NewTimer(PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		br.Reset(f)
	}
}

// tailStart returns the offset of the n-th last line of f (0 when it has fewer lines).
func tailStart(f *os.File, n int64) int64 {
	st, err := f.Stat()
	if err != nil || n < 0 {
		return 0
	}
	size := st.Size()
	const chunk = 64 * 1024
	buf := make([]byte, chunk)
	end := size
	var lines int64
	for end > 0 {
		start := max(end-chunk, 0)
		b := buf[:end-start]
		if _, err := f.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
			return 0
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != '\n' {
				continue
			}
			if start+int64(i) == size-1 {
				continue // the file's last newline ends the last line
			}
			lines++
			if lines == n {
				return start + int64(i) + 1
			}
		}
		end = start
	}
	if n == 0 {
		return size
	}
	return 0
}

type output struct {
	opts           Options
	stdout, stderr io.Writer
	written        int64
	newLine        bool // the previous entry ended its line
}

// entry writes one parsed entry; done reports the byte limit was reached.
func (o *output) entry(line []byte) (done bool, err error) {
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	stream, rest2, ok2 := bytes.Cut(rest, []byte{' '})
	tag, content, ok3 := bytes.Cut(rest2, []byte{' '})
	if !ok || !ok2 || !ok3 {
		return false, fmt.Errorf("malformed log entry %q", line)
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return false, fmt.Errorf("malformed log entry timestamp %q: %w", ts, err)
	}
	full := string(tag) == tagFull
	startsLine := o.newLine
	o.newLine = full
	if !o.opts.Since.IsZero() && t.Before(o.opts.Since) {
		return false, nil
	}
	var w io.Writer
	switch Stream(stream) {
	case Stdout:
		w = o.stdout
	case Stderr:
		w = o.stderr
	default:
		return false, fmt.Errorf("malformed log entry stream %q", stream)
	}
	if w == nil {
		return false, nil
	}
	var b bytes.Buffer
	if o.opts.Timestamps && startsLine {
		b.WriteString(t.Format(TimeFormat))
		b.WriteByte(' ')
	}
	b.Write(content)
	if full {
		b.WriteByte('\n')
	}
	msg := b.Bytes()
	if o.opts.LimitBytes > 0 {
		left := o.opts.LimitBytes - o.written
		if int64(len(msg)) >= left {
			msg, done = msg[:left], true
		}
	}
	n, err := w.Write(msg)
	o.written += int64(n)
	return done, err
}
