package cmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// ptyOutput collects what the command writes to the terminal, and counts the cursor
// position queries (ESC [6n) copyAll has answered.
type ptyOutput struct {
	mu       sync.Mutex
	buf      bytes.Buffer
	answered int
}

func (o *ptyOutput) answer() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.answered++
}

// waitAnswered waits until the output after offset holds at least n cursor position
// queries and every query so far is answered: keys typed before the prompt has read its
// answer would be taken for part of the answer and lost.
func (o *ptyOutput) waitAnswered(t *testing.T, from, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		o.mu.Lock()
		s, answered := o.buf.String(), o.answered
		o.mu.Unlock()
		if strings.Count(s[from:], "\x1b[6n") >= n && strings.Count(s, "\x1b[6n") == answered {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("the terminal's cursor position queries were not all answered; it shows:\n%s", o.String())
}

func (o *ptyOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *ptyOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// typeKeys writes keys to the terminal. The prompt reads the answer to its last cursor
// position query with a buffered read, which can take keys that arrived with the answer
// and drop them (seen under load); nothing shows when the terminal has some to wait on.
// So when the terminal shows nothing new for 3 s after the keys, they are typed once
// more, as a user would.
func (o *ptyOutput) typeKeys(t *testing.T, ptmx *os.File, keys string) {
	t.Helper()
	for range 2 {
		mark := len(o.String())
		if _, err := ptmx.Write([]byte(keys)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			if len(o.String()) > mark {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// waitFor polls the terminal output until it holds want after offset, and returns the
// offset past it.
func (o *ptyOutput) waitFor(t *testing.T, from int, want string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		s := o.String()
		if i := strings.Index(s[from:], want); i >= 0 {
			return from + i + len(want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("terminal never showed %q; it shows:\n%s", want, o.String())
	return 0
}

// TestWizardThroughATerminal answers every question through a pseudo-terminal, including
// a wrong answer that must be refused on the spot, and ends in a dry-run install.
func TestWizardThroughATerminal(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 50, Cols: 200}); err != nil {
		t.Fatal(err)
	}
	out := &ptyOutput{}
	go func() { _, _ = copyAll(out, ptmx) }()

	saved := filepath.Join(t.TempDir(), "values.yaml")
	done := make(chan result, 1)
	go func() {
		done <- runCmd(t, cluster{objects: threeZones()}, "install demo -i --dry-run --save-values "+saved, func(e *Env) {
			e.In, e.Out, e.ErrOut, e.Terminal = tty, tty, tty, true
		})
	}()

	// queries: how many cursor position queries the prompt makes before it reads keys:
	// input and confirm prompts ask twice (also when shown again after a refused answer),
	// select prompts not at all.
	type step struct {
		prompt, keys string
		queries      int
	}
	at := 0
	for _, s := range []step{
		{"Profile:", "\x1b[B\r", 0}, // down from "none" to dev
		{"Partitions:", "0\r", 2},
		{"not a whole number from 1 to 16384", "\x7f\x7f\x7f2\r", 2},
		{"High availability", "y\r", 2},
		{"Keep each primary and its backup apart by:", "\r", 0}, // zone
		{"Memory per grid pod", "300Mi\r", 2},
		{"Add-ons:", "\r", 0}, // none
		{"Go ahead: install demo (dry run)?", "y\r", 2},
	} {
		at = out.waitFor(t, at, s.prompt)
		out.waitAnswered(t, at, s.queries)
		out.typeKeys(t, ptmx, s.keys)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the command did not finish; terminal:\n%s", out.String())
	}
	out.waitFor(t, 0, "DRY RUN: nothing was changed")
	if r.code != 0 {
		t.Fatalf("exit code %d; terminal:\n%s", r.code, out.String())
	}
	for _, want := range []string{"The values to install:", "partitions: 2", "Saved to " + saved, "ok   topology"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("terminal lacks %q:\n%s", want, out.String())
		}
	}
	b, err := os.ReadFile(saved)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"partitions: 2", "ha: true", "topology: topology.kubernetes.io/zone", "memory: 300Mi"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("saved values lack %q:\n%s", want, b)
		}
	}
	if rels, _ := r.store.ListReleases(); len(rels) != 0 {
		t.Errorf("a dry run stored %d release(s)", len(rels))
	}
}

// copyAll records the terminal's output and, as a real terminal does, answers survey's
// cursor position queries (ESC [ 6 n) so its prompts can lay themselves out.
func copyAll(dst *ptyOutput, src *os.File) (int64, error) {
	buf := make([]byte, 4096)
	var n int64
	for {
		k, err := src.Read(buf)
		if k > 0 {
			_, _ = dst.Write(buf[:k])
			n += int64(k)
			for range bytes.Count(buf[:k], []byte("\x1b[6n")) {
				if _, werr := src.Write([]byte("\x1b[10;1R")); werr != nil {
					return n, werr
				}
				dst.answer()
			}
		}
		if err != nil {
			return n, err
		}
	}
}
