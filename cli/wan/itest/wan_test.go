package itest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/cli/internal/cmd"
	"github.com/insightgrid/insight/e2e/gridbin"
)

// bin is the insight-grid binary TestMain builds.
var bin string

func TestMain(m *testing.M) { gridbin.Main(m, &bin) }

// site is an `insight-grid local --site` of one partition without a backup.
type site struct {
	name string
	base int
	dir  string
}

func (s site) gateway() string { return "127.0.0.1:" + strconv.Itoa(s.base+5) }

// offsets are the ports from --base-port that a local grid of one data instance listens on
// (docs/grid.md, insight-grid local): the manager's, the SQL endpoint's, the WAN gateway's,
// the instance's RESP, TLS, HTTP, replication and metrics ports.
var offsets = []int{0, 1, 2, 3, 4, 5, 9, 10, 510, 1010, 1510, 2010}

// freeBase is a base port whose offsets are free on 127.0.0.1, below the usual ephemeral
// range (32768-60999) so that no outgoing connection takes one meanwhile, and away from
// the bases already taken.
func freeBase(t *testing.T, taken ...int) int {
	t.Helper()
	for range 500 {
		base := 12000 + rand.IntN(18000)
		free := true
		for _, b := range taken {
			free = free && (base > b+2100 || base < b-2100)
		}
		for _, off := range offsets {
			if !free {
				break
			}
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base+off)))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return base
		}
	}
	t.Fatal("no free range of ports for insight-grid local")
	return 0
}

// start runs s replicating to other until the test ends, and waits for its ready line.
func start(t *testing.T, s, other site) {
	t.Helper()
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(s.dir, "local.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command(bin, "local", "--site", s.name, "--partitions", "1", "--ha=false", "--base-port", strconv.Itoa(s.base),
		"--data-dir", s.dir, "--log-level", "warn", "--timeout", "90s",
		"--wan-target", other.name+"="+other.gateway(),
		"--wan-target-ca", other.name+"="+filepath.Join(other.dir, "tls", "ca.crt"),
		"--wan-target-token-file", other.name+"="+filepath.Join(other.dir, "operator-token"))
	c.Stderr = logf
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatalf("starting site %s: %v", s.name, err)
	}
	ready, done := make(chan struct{}), make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "ready" {
				close(ready)
			}
		}
		_ = c.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = c.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = c.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("site %s's log, last 3000 bytes:\n%s", s.name, b[max(0, len(b)-3000):])
		}
	})
	select {
	case <-ready:
	case <-done:
		b, _ := os.ReadFile(logPath)
		t.Fatalf("site %s exited before it was ready:\n%s", s.name, b[max(0, len(b)-3000):])
	case <-time.After(100 * time.Second):
		t.Fatalf("site %s was not ready in 100s", s.name)
	}
}

// insightctl runs one insightctl command line, which must not need a cluster.
func insightctl(t *testing.T, args ...string) (code int, out, errOut string) {
	t.Helper()
	var o, e bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code = cmd.Execute(ctx, &cmd.Env{
		In: strings.NewReader(""), Out: &o, ErrOut: &e, Getenv: func(string) string { return "" },
		Connect: func(*cmd.GlobalFlags) (*cmd.Clients, error) {
			return nil, fmt.Errorf("insightctl wan --gateway must not connect to a cluster")
		},
		PollInterval: 100 * time.Millisecond,
	}, args)
	return code, o.String(), e.String()
}

// insightctl wan status reads a real site's gateway: its real target, the target's
// acknowledgement of a write, and the counters; sync refuses a site that is not a target,
// naming the real one, and repairs the real one to its end.
func TestWANStatusAndSyncOfALocalSite(t *testing.T) {
	tmp := t.TempDir()
	lb := freeBase(t)
	london := site{name: "london", base: lb, dir: filepath.Join(tmp, "london")}
	paris := site{name: "paris", base: freeBase(t, lb), dir: filepath.Join(tmp, "paris")}
	start(t, london, paris)
	start(t, paris, london)

	gw := []string{"--gateway", "https://" + london.gateway(), "--ca-file", filepath.Join(london.dir, "tls", "ca.crt"),
		"--token-file", filepath.Join(london.dir, "operator-token")}
	code, out, errOut := insightctl(t, append([]string{"wan", "status"}, gw...)...)
	if code != 0 {
		t.Fatalf("wan status: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "Site london, WAN gateway via https://"+london.gateway()) {
		t.Errorf("wan status names no site london:\n%s", out)
	}
	if row := rowOf(out, "paris"); len(row) < 2 || row[1] != paris.gateway() {
		t.Errorf("wan status shows no row of target paris at %s:\n%s", paris.gateway(), out)
	}

	// A write at london is sent to paris and acknowledged: the status shows it.
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:" + strconv.Itoa(london.base+10)}})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := rdb.Set(ctx, "greeting", "hello", 0).Err(); err != nil {
		t.Fatalf("SET at london: %v", err)
	}
	var doc map[string]any
	for {
		code, out, errOut = insightctl(t, append([]string{"wan", "status", "-o", "json"}, gw...)...)
		if code != 0 {
			t.Fatalf("wan status -o json: exit %d\n%s%s", code, out, errOut)
		}
		doc = nil
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("wan status -o json is not JSON: %v\n%s", err, out)
		}
		if tg := target(doc, "paris"); tg != nil && tg["oldestAckedHLC"].(float64) > 0 && tg["backlog"].(float64) == 0 && doc["keysSent"].(float64) >= 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("paris did not acknowledge london's write in 60s:\n%s", out)
		case <-time.After(200 * time.Millisecond):
		}
	}
	code, out, _ = insightctl(t, append([]string{"wan", "status"}, gw...)...)
	row := rowOf(out, "paris")
	if len(row) < 6 {
		t.Fatalf("wan status after the acknowledgement (exit %d): no row of paris:\n%s", code, out)
	}
	if _, err := time.Parse(time.RFC3339, row[4]); code != 0 || !slices.Equal(row[1:4], []string{paris.gateway(), "0", "0s"}) || err != nil || row[len(row)-1] != "none" {
		t.Errorf("wan status after the acknowledgement (exit %d): want paris at %s with backlog 0, lag 0s, the time of its last ack, none out of sync:\n%s", code, paris.gateway(), out)
	}
	tok, err := os.ReadFile(filepath.Join(london.dir, "operator-token"))
	if err != nil || len(bytes.TrimSpace(tok)) == 0 {
		t.Fatalf("london's operator token: %q, %v", tok, err)
	}
	if strings.Contains(out, string(bytes.TrimSpace(tok))) {
		t.Error("wan status printed the operator token")
	}

	code, out, errOut = insightctl(t, append([]string{"wan", "sync", "--target", "rome"}, gw...)...)
	if code != 2 || !strings.Contains(errOut, "--target: not a target site of site london's gateway; one of paris (given: rome)") {
		t.Errorf("wan sync --target rome: exit %d, want 2 naming paris\n%s%s", code, out, errOut)
	}

	// A repair of paris runs to its end against the real gateways: both sites hold the
	// same writes, so it compares the slots and sends nothing.
	code, out, errOut = insightctl(t, append([]string{"wan", "sync", "--target", "paris", "--wait", "--timeout", "60s"}, gw...)...)
	if code != 0 || !strings.Contains(out, "of site paris done in") || !strings.Contains(out, "0 keys sent") {
		t.Errorf("wan sync --target paris --wait: exit %d, want a repair done with 0 keys sent\n%s%s", code, out, errOut)
	}

	// The gateway of a site that is not running.
	code, _, errOut = insightctl(t, "wan", "status", "--gateway", "https://127.0.0.1:"+strconv.Itoa(london.base+6), "--ca-file", filepath.Join(london.dir, "tls", "ca.crt"))
	if code != 1 || !strings.Contains(errOut, "is unreachable") {
		t.Errorf("wan status of no gateway: exit %d\n%s", code, errOut)
	}
}

// target is the target site name of the status document doc.
func target(doc map[string]any, name string) map[string]any {
	ts, _ := doc["targets"].([]any)
	for _, t := range ts {
		if m, ok := t.(map[string]any); ok && m["site"] == name {
			return m
		}
	}
	return nil
}

// rowOf is the fields of the line of out whose first field is first.
func rowOf(out, first string) []string {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == first {
			return f
		}
	}
	return nil
}
