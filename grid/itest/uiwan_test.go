package itest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/internal/ports"
	"github.com/insightgrid/insight/grid/internal/testutil"
	"github.com/insightgrid/insight/grid/local"
)

// wanSite is a WAN site run by `insight-grid local --site`: its ports and directory are
// chosen before any site starts, so that each names the other's gateway, CA and token.
type wanSite struct {
	name, dir string
	base      int
	cmd       *exec.Cmd
	api       string
	token     string
}

func (s *wanSite) gateway() string { return fmt.Sprintf("127.0.0.1:%d", s.base+5) }

// wanSites picks disjoint free port ranges (2 data instances each) for the named sites.
func wanSites(t *testing.T, names ...string) []*wanSite {
	t.Helper()
	offsets := local.PortOffsets(2)
	var out []*wanSite
	for _, n := range names {
		for {
			b, err := ports.FreeBase("127.0.0.1", offsets, local.MaxBasePort)
			if err != nil {
				t.Fatal(err)
			}
			clash := false
			for _, o := range out {
				clash = clash || (b > o.base-2600 && b < o.base+2600)
			}
			if !clash {
				out = append(out, &wanSite{name: n, base: b, dir: filepath.Join(t.TempDir(), n)})
				break
			}
		}
	}
	return out
}

// startWANSite runs s with 2 partitions, replicating to every other site of all, until t
// ends; it returns once s printed ready.
func startWANSite(t *testing.T, s *wanSite, all []*wanSite) {
	t.Helper()
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	args := []string{"local", "--partitions", "2", "--base-port", fmt.Sprint(s.base), "--data-dir", s.dir,
		"--log-level", "info", "--timeout", "90s", "--site", s.name}
	for _, o := range all {
		if o != s {
			args = append(args, "--wan-target", o.name+"="+o.gateway(),
				"--wan-target-ca", o.name+"="+filepath.Join(o.dir, "tls", "ca.crt"),
				"--wan-target-token-file", o.name+"="+filepath.Join(o.dir, "operator-token"))
		}
	}
	logPath := filepath.Join(s.dir, "local.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(grid.bin, args...)
	s.cmd.Stderr = logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting site %s: %v", s.name, err)
	}
	ready, exited := make(chan string, 1), make(chan struct{})
	tokenFile := ""
	go func() {
		sc := bufio.NewScanner(out)
		manager := ""
		for sc.Scan() {
			switch line := sc.Text(); {
			case strings.HasPrefix(line, "manager "):
				manager = strings.TrimPrefix(line, "manager ")
			case strings.HasPrefix(line, "operator-token-file "):
				tokenFile = strings.TrimPrefix(line, "operator-token-file ")
			case line == "ready":
				ready <- manager
			}
		}
		close(ready)
		_ = s.cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = s.cmd.Process.Kill()
			<-exited
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("site %s's log, last 4000 bytes:\n%s", s.name, b[max(0, len(b)-4000):])
		}
	})
	select {
	case m, ok := <-ready:
		if !ok {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("site %s exited before it was ready:\n%s", s.name, b[max(0, len(b)-4000):])
		}
		s.api, s.token = m, readToken(t, tokenFile)
	case <-time.After(100 * time.Second):
		t.Fatalf("site %s was not ready in 100s", s.name)
	}
}

// uiWAN is the WAN sites page as the browser shows it.
type uiWAN struct {
	Nav      bool   `json:"nav"`
	Site     string `json:"site"`
	Overflow bool   `json:"overflow"`
	Targets  []struct {
		Site    string `json:"site"`
		Backlog int    `json:"backlog"`
		Lag     string `json:"lag"`
		LastAck string `json:"lastAck"`
		InSync  string `json:"inSync"`
		Rows    []struct {
			Partition int    `json:"partition"`
			Backlog   int    `json:"backlog"`
			Sync      string `json:"sync"`
			LastAck   string `json:"lastAck"`
		} `json:"rows"`
	} `json:"targets"`
	Unanswered []string `json:"unanswered"`
}

func (b *browser) wan() uiWAN {
	var w uiWAN
	b.do(&w, "wan", nil)
	return w
}

// ldnShown is the page's ldn target once it shows both partitions.
func (w uiWAN) ldn() (int, bool) {
	for i, t := range w.Targets {
		if t.Site == "ldn" && len(t.Rows) == 2 {
			return i, true
		}
	}
	return 0, false
}

// TestWebUIWANSites drives the UI's WAN sites page of site ny replicating to ldn (and
// back): the page shows the ldn target and its two partitions, a SIGSTOP of ldn's local
// process (its gateway) makes the backlog written at ny grow on the page, a SIGCONT
// drains it to 0. A grid that is not a site has no WAN page.
func TestWebUIWANSites(t *testing.T) {
	b := startBrowser(t)
	sites := wanSites(t, "ny", "ldn")
	ny, ldn := sites[0], sites[1]
	startWANSite(t, ny, sites)
	startWANSite(t, ldn, sites)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{fmt.Sprintf("127.0.0.1:%d", ny.base+10)}, MaxRedirects: 16})
	defer rdb.Close()
	write := func(prefix string, n int) {
		t.Helper()
		for i := range n {
			if err := rdb.Set(ctx, fmt.Sprintf("%s:%d", prefix, i), i, 0).Err(); err != nil {
				t.Fatalf("SET %s:%d at ny: %v", prefix, i, err)
			}
		}
	}

	b.do(nil, "open", map[string]any{"url": loginURL(t, ny.api, ny.token)})
	if w := b.wan(); !w.Nav {
		t.Fatal("site ny's UI has no WAN sites entry")
	}
	b.do(nil, "goto", map[string]any{"hash": "wan"})
	var w uiWAN
	testutil.Eventually(t, 30*time.Second, "the ldn target with both partitions on ny's WAN page", func() bool {
		w = b.wan()
		_, ok := w.ldn()
		return ok
	})
	if !strings.Contains(w.Site, "ny") || len(w.Unanswered) != 0 {
		t.Fatalf("WAN page %+v: want site ny with every partition answering", w)
	}

	const before, during = 100, 600
	write("a", before)
	testutil.Eventually(t, 60*time.Second, "ny's first writes acknowledged by ldn on the page", func() bool {
		w = b.wan()
		i, ok := w.ldn()
		return ok && w.Targets[i].Backlog == 0 && w.Targets[i].LastAck != "never" && w.Targets[i].InSync == "2 of 2"
	})

	// ldn's gateway (goroutines of its local process) stops: ny's writes wait for it.
	if err := syscall.Kill(ldn.cmd.Process.Pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			_ = syscall.Kill(ldn.cmd.Process.Pid, syscall.SIGCONT)
		}
	}()
	write("b", during)
	testutil.Eventually(t, 30*time.Second, fmt.Sprintf("a backlog of %d keys towards the stopped ldn on the page", during), func() bool {
		w = b.wan()
		i, ok := w.ldn()
		return ok && w.Targets[i].Backlog == during
	})
	tg := w.Targets[mustLDN(t, w)]
	if tg.Rows[0].Backlog+tg.Rows[1].Backlog != during || tg.Rows[0].Backlog == 0 || tg.Rows[1].Backlog == 0 {
		t.Fatalf("ldn rows %+v: want the %d keys spread over both partitions", tg.Rows, during)
	}
	// The page and the API agree.
	var o api.Overview
	if err := getInto(ny.api+api.PathOverview, &o); err != nil || o.WAN == nil || len(o.WAN.Targets) != 1 || o.WAN.Targets[0].Backlog != during {
		t.Fatalf("GET /v1/overview's wan: %+v, %v; want ldn's backlog of %d", o.WAN, err, during)
	}
	testutil.Eventually(t, 10*time.Second, "a lag shown while the backlog waits", func() bool {
		w = b.wan()
		i, ok := w.ldn()
		return ok && strings.HasSuffix(w.Targets[i].Lag, " s") && w.Targets[i].Lag != "0.0 s"
	})
	b.screenshot("wan")

	if err := syscall.Kill(ldn.cmd.Process.Pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped = false
	resumed := time.Now()
	testutil.Eventually(t, 90*time.Second, "the backlog towards ldn drained to 0 on the page", func() bool {
		w = b.wan()
		i, ok := w.ldn()
		return ok && w.Targets[i].Backlog == 0 && w.Targets[i].InSync == "2 of 2" && w.Targets[i].Lag == "none"
	})
	t.Logf("the page showed the %d keys delivered %s after the SIGCONT", during, time.Since(resumed).Round(100*time.Millisecond))

	t.Run("a phone-width screen", func(t *testing.T) {
		b.do(nil, "open", map[string]any{"url": loginURL(t, ny.api, ny.token), "width": 390, "height": 844})
		b.do(nil, "goto", map[string]any{"hash": "wan"})
		testutil.Eventually(t, 20*time.Second, "the ldn target on a phone-width screen", func() bool {
			w = b.wan()
			_, ok := w.ldn()
			return ok
		})
		if w.Overflow {
			t.Fatal("the WAN page is wider than a 390-pixel screen")
		}
	})

	t.Run("a grid that is not a site has no WAN page", func(t *testing.T) {
		b.do(nil, "open", map[string]any{"url": loginURL(t, grid.api, grid.token)})
		if w := b.wan(); w.Nav || len(w.Targets) != 0 {
			t.Fatalf("the plain grid's UI shows a WAN page: %+v", w)
		}
		var errs struct{ Errors []string }
		b.do(&errs, "errors", nil)
		if len(errs.Errors) != 0 {
			t.Fatalf("the page logged errors: %q", errs.Errors)
		}
	})
}

func mustLDN(t *testing.T, w uiWAN) int {
	t.Helper()
	i, ok := w.ldn()
	if !ok {
		t.Fatalf("no ldn target on the page: %+v", w)
	}
	return i
}
