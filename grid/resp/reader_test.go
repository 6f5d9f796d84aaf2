package resp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func readAll(t testing.TB, in io.Reader, maxBulk int64) ([][]string, error) {
	t.Helper()
	r := NewReader(in, maxBulk)
	var out [][]string
	for {
		args, err := r.ReadCommand()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		cmd := make([]string, len(args))
		for i, a := range args {
			cmd[i] = string(a)
		}
		out = append(out, cmd)
	}
}

func TestReadCommand(t *testing.T) {
	big := strings.Repeat("x", 100000)
	tests := []struct {
		name    string
		in      string
		want    string // fmt.Sprint of the commands
		wantErr string
	}{
		{name: "multibulk", in: "*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n", want: "[[GET foo]]"},
		{name: "pipeline", in: "*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", want: "[[PING] [ECHO ]]"},
		{name: "binary", in: "*1\r\n$4\r\na\r\nb\r\n", want: "[[a\r\nb]]"},
		{name: "empty multibulk skipped", in: "*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n", want: "[[PING]]"},
		{name: "big bulk", in: "*2\r\n$4\r\nECHO\r\n$100000\r\n" + big + "\r\n", want: "[[ECHO " + big + "]]"},
		{name: "inline", in: "SET k v\r\nGET k\n", want: "[[SET k v] [GET k]]"},
		{name: "inline blank lines skipped", in: "\r\n  \nPING\r\n", want: "[[PING]]"},
		{name: "inline quotes", in: `SET "a b" 'c d' "\x41\n" 'it\'s'` + "\r\n", want: "[[SET a b c d A\n it's]]"},
		{name: "inline quote mid token", in: "SET k\"ey\" v\r\n", want: "[[SET key v]]"},
		{name: "inline unbalanced", in: "SET \"k v\r\n", wantErr: "Protocol error: unbalanced quotes in request"},
		{name: "inline closing quote glued", in: "SET \"k\"v\r\n", wantErr: "Protocol error: unbalanced quotes in request"},
		{name: "bad multibulk length", in: "*x\r\n", wantErr: "Protocol error: invalid multibulk length"},
		{name: "multibulk length too big", in: "*4294967296\r\n", wantErr: "Protocol error: invalid multibulk length"},
		{name: "bad bulk length", in: "*1\r\n$-5\r\n", wantErr: "Protocol error: invalid bulk length"},
		{name: "bulk over limit", in: "*1\r\n$1025\r\n", wantErr: "Protocol error: invalid bulk length"},
		{name: "expected dollar", in: "*1\r\n:5\r\n", wantErr: "Protocol error: expected '$', got ':'"},
		{name: "too big inline", in: strings.Repeat("a", 70000), wantErr: "Protocol error: too big inline request"},
		{name: "too big mbulk count", in: "*" + strings.Repeat("1", 70000), wantErr: "Protocol error: too big mbulk count string"},
		{name: "truncated", in: "*2\r\n$3\r\nGET\r\n", wantErr: io.ErrUnexpectedEOF.Error()},
	}
	for _, tt := range tests {
		for _, mode := range []string{"whole", "onebyte"} {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				var in io.Reader = strings.NewReader(tt.in)
				if mode == "onebyte" {
					in = iotest.OneByteReader(in)
				}
				got, err := readAll(t, in, 1024*1024)
				if tt.wantErr != "" {
					if tt.name == "bulk over limit" {
						got, err = readAll(t, strings.NewReader(tt.in), 1024)
					}
					if err == nil || err.Error() != tt.wantErr {
						t.Fatalf("error = %v, want %q (commands %q)", err, tt.wantErr, got)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(got) != tt.want {
					t.Fatalf("got %q, want %q", got, tt.want)
				}
			})
		}
	}
}

func TestBufferedAndReuse(t *testing.T) {
	r := NewReader(strings.NewReader("*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n"), 0)
	if _, err := r.ReadCommand(); err != nil {
		t.Fatal(err)
	}
	if r.Buffered() == 0 {
		t.Fatal("second pipelined command should be buffered")
	}
	if _, err := r.ReadCommand(); err != nil {
		t.Fatal(err)
	}
	if r.Buffered() != 0 {
		t.Fatalf("Buffered() = %d after the pipeline", r.Buffered())
	}
}

// encode writes a command the way clients do.
func encode(args [][]byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.Bytes()
}

// FuzzReader checks that no input panics the parser or hangs it, and that whatever it
// accepts re-encodes to multibulk commands that parse back to the same arguments.
func FuzzReader(f *testing.F) {
	f.Add([]byte("*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n"))
	f.Add([]byte("PING\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := readAll(t, iotest.HalfReader(bytes.NewReader(in)), 4096)
		var pe *ProtocolError
		if err != nil && !errors.As(err, &pe) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("unexpected error type %T: %v", err, err)
		}
		var again bytes.Buffer
		for _, cmd := range got {
			args := make([][]byte, len(cmd))
			for i, a := range cmd {
				args[i] = []byte(a)
			}
			again.Write(encode(args))
		}
		back, err := readAll(t, &again, 4096)
		if err != nil {
			t.Fatalf("re-encoded commands failed to parse: %v", err)
		}
		if fmt.Sprintf("%q", back) != fmt.Sprintf("%q", got) {
			t.Fatalf("round trip: got %q, want %q", back, got)
		}
	})
}
