package itest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/e2e/clients"
	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/ui"
)

// browser is e2e/ui/driver.mjs driving Debian's chromium: one JSON command per line.
type browser struct {
	t   *testing.T
	in  io.WriteCloser
	out *bufio.Scanner
}

// startBrowser runs the driver, or skips (fails in CI) when chromium or playwright-core
// (ci/tools.sh, ci/clients.sh) is missing.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	const chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		clients.Missing(t, "%s is missing: ci/tools.sh installs Debian's chromium", chromium)
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := clients.Dirs(repo)
	if err != nil {
		t.Fatal(err)
	}
	if dirs["ui"] == "" {
		clients.Missing(t, "playwright-core is not installed: run ci/clients.sh")
	}
	cmd := exec.Command("node", filepath.Join(repo, "e2e/ui/driver.mjs"))
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium, "UI_MODULES="+dirs["ui"])
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the browser driver: %v", err)
	}
	t.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	return &browser{t: t, in: in, out: sc}
}

// do sends one command and decodes its answer into v; a refused command fails t.
func (b *browser) do(v any, cmd string, args map[string]any) {
	b.t.Helper()
	if args == nil {
		args = map[string]any{}
	}
	args["cmd"] = cmd
	line, _ := json.Marshal(args)
	if _, err := b.in.Write(append(line, '\n')); err != nil {
		b.t.Fatalf("browser %s: %v", cmd, err)
	}
	got := make(chan bool, 1)
	go func() { got <- b.out.Scan() }()
	select {
	case ok := <-got:
		if !ok {
			b.t.Fatalf("browser %s: the driver exited (%v)", cmd, b.out.Err())
		}
	case <-time.After(60 * time.Second):
		b.t.Fatalf("browser %s: no answer in 60s", cmd)
	}
	var status struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(b.out.Bytes(), &status); err != nil || !status.OK {
		b.t.Fatalf("browser %s %s: %s %v", cmd, line, status.Error, err)
	}
	if v != nil {
		if err := json.Unmarshal(b.out.Bytes(), v); err != nil {
			b.t.Fatalf("browser %s: %v", cmd, err)
		}
	}
}

type uiRow struct {
	Partition int      `json:"partition"`
	Primary   string   `json:"primary"`
	Backup    string   `json:"backup"`
	Node      []string `json:"node"` // the primary's, then the backup's
	Zone      []string `json:"zone"`
	InSync    string   `json:"inSync"`
	Epoch     int64    `json:"epoch"`
	Slots     string   `json:"slots"`
}

func (b *browser) rows() []uiRow {
	var r struct{ Rows []uiRow }
	b.do(&r, "rows", nil)
	return r.Rows
}

// screenshot saves the page to docs/ui/name.png when INSIGHT_UI_SCREENSHOTS is set (the
// committed pictures), else into the test's directory.
func (b *browser) screenshot(name string) {
	dir := b.t.TempDir()
	if os.Getenv("INSIGHT_UI_SCREENSHOTS") != "" {
		dir, _ = filepath.Abs("../../docs/ui")
	}
	b.do(nil, "screenshot", map[string]any{"path": filepath.Join(dir, name+".png")})
}

// loginURL is a one-time login link of the grid at apiURL, signed with its operator
// token as insight-grid local's "ui" line is.
func loginURL(t *testing.T, apiURL, token string) string {
	t.Helper()
	code, err := api.LoginCode(token, time.Now(), api.LoginTTL)
	if err != nil {
		t.Fatal(err)
	}
	return apiURL + ui.PathLogin + "?token=" + url.QueryEscape(code)
}

// slotText is how the UI writes a partition's slot ranges.
func slotText(p api.Partition) string {
	var parts []string
	for _, r := range p.Slots {
		if r[0] == r[1] {
			parts = append(parts, fmt.Sprint(r[0]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", r[0], r[1]))
		}
	}
	return strings.Join(parts, ", ")
}

// placeColumns is what the table's Node and Zone cells show of partition p, the
// primary's then the backup's: the node (else the address) and the zone, "—" when
// unknown. insight-grid local registers the machine's host name as every instance's
// node and no zone.
func placeColumns(t *testing.T, p api.Partition) (node, zone []string) {
	t.Helper()
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{p.Primary, p.Backup} {
		if id == "" {
			continue
		}
		n, z := "—", "—"
		for _, in := range p.Instances {
			if in.ID != id {
				continue
			}
			if in.Node != host || in.Zone != "" {
				t.Fatalf("instance %s registered node %q zone %q, want local's host name %q and no zone", id, in.Node, in.Zone, host)
			}
			n = in.Node
		}
		node, zone = append(node, n), append(zone, z)
	}
	return node, zone
}

// TestWebUI drives the manager's web UI in headless chromium against `insight-grid local
// --ha`: the partition table equals the API, a kill -9 of a primary shows in the table,
// the failover button switches a partition, a re-partitioning to 0 or to text is refused
// with the API's message, and read-only mode hides the actions.
func TestWebUI(t *testing.T) {
	b := startBrowser(t)
	g := startHALocal(t, 4, 4)
	var opened struct {
		FirstPaintMs int    `json:"firstPaintMs"`
		URL          string `json:"url"`
	}
	b.do(&opened, "open", map[string]any{"url": loginURL(t, g.api, g.token)})
	if !strings.HasSuffix(opened.URL, ui.PathUI) {
		t.Fatalf("the login link led to %s, want the UI", opened.URL)
	}
	var acts struct {
		VisibleButtons  int    `json:"visibleButtons"`
		RepartitionForm bool   `json:"repartitionForm"`
		Banner          string `json:"banner"`
	}
	b.do(&acts, "actions", nil)
	if acts.RepartitionForm {
		t.Fatalf("the overview shows the re-partitioning form")
	}
	b.screenshot("overview")

	t.Run("the partition table equals the API", func(t *testing.T) {
		b.do(nil, "goto", map[string]any{"hash": "partitions"})
		var want api.Partitions
		if err := getInto(g.api+api.PathPartitions, &want); err != nil {
			t.Fatal(err)
		}
		got := b.rows()
		if len(got) != len(want.Partitions) {
			t.Fatalf("the table has %d rows, the API %d partitions", len(got), len(want.Partitions))
		}
		for i, p := range want.Partitions {
			r := got[i]
			if r.Partition != p.ID || r.Primary != p.Primary || !strings.HasPrefix(r.Backup, p.Backup) || r.Epoch != p.Epoch || r.Slots != slotText(p) ||
				(r.InSync == "yes") != p.InSync {
				t.Fatalf("row %d %+v, the API's partition %+v", i, r, p)
			}
			wantNode, wantZone := placeColumns(t, p)
			if !slices.Equal(r.Node, wantNode) || !slices.Equal(r.Zone, wantZone) {
				t.Fatalf("row %d: node %q zone %q, the API's instances %+v", i, r.Node, r.Zone, p.Instances)
			}
		}
		b.do(&acts, "actions", nil)
		if acts.VisibleButtons < len(want.Partitions) {
			t.Fatalf("%d action buttons visible signed in, want a failover per partition", acts.VisibleButtons)
		}
		b.screenshot("partitions")
	})

	t.Run("a kill -9 of a primary shows in the table", func(t *testing.T) {
		const p = 1
		kill := time.Now()
		before := g.killPrimary(t, p)
		apiSaw := make(chan time.Time, 1)
		go func() {
			for time.Since(kill) < 20*time.Second {
				if pt, err := g.partition(p); err == nil && pt.Primary != before.Primary {
					apiSaw <- time.Now()
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
			close(apiSaw)
		}()
		var changed struct {
			Primary string `json:"primary"`
			At      int64  `json:"at"`
		}
		b.do(&changed, "waitPrimary", map[string]any{"partition": p, "not": before.Primary, "timeoutMs": 20000})
		seen := time.UnixMilli(changed.At)
		apiAt, ok := <-apiSaw
		if !ok {
			t.Fatalf("the API never showed a new primary of partition %d", p)
		}
		fromKill, fromAPI := seen.Sub(kill), seen.Sub(apiAt)
		t.Logf("kill -9 of %s: the UI showed %s as primary %s after the kill, %s after the API's poll (10 ms) saw it",
			before.Primary, changed.Primary, fromKill.Round(time.Millisecond), fromAPI.Round(time.Millisecond))
		// The row of ci/bench-ui.sh: the UI against the API, both from the kill.
		apiMs := apiAt.Sub(kill).Milliseconds()
		fmt.Printf("%-34s %8d %8d %7.2f %8d\n", "failover shown, after the kill", fromKill.Milliseconds(), apiMs, float64(fromKill.Milliseconds())/float64(max(apiMs, 1)), 3000)
		// The manager's epoch change reaches the page on etcd's watch, not on a poll.
		if fromAPI > time.Second {
			t.Fatalf("the UI showed the failover %s after the API did, want at most 1s", fromAPI)
		}
		if fromKill > 3*time.Second {
			t.Fatalf("the UI showed the failover %s after the kill, want at most 3s (lease TTL 2s)", fromKill)
		}
		b.screenshot("failover")
		g.waitHealthy(t, p, 60*time.Second)
	})

	t.Run("the failover button switches a partition", func(t *testing.T) {
		const p = 2
		before := g.waitHealthy(t, p, 30*time.Second)
		b.do(nil, "goto", map[string]any{"hash": "partitions"})
		var clicked struct{ Confirm string }
		b.do(&clicked, "click", map[string]any{"op": "failover", "partition": p})
		if !strings.Contains(clicked.Confirm, before.Primary) {
			t.Fatalf("confirmation %q does not name the primary %s", clicked.Confirm, before.Primary)
		}
		var changed struct{ Primary string }
		b.do(&changed, "waitPrimary", map[string]any{"partition": p, "not": before.Primary, "timeoutMs": 10000})
		after, err := g.partition(p)
		if err != nil || after.Primary != changed.Primary || after.Primary != before.Backup {
			t.Fatalf("after the button: API %+v (%v), table %s; want the old backup %s", after, err, changed.Primary, before.Backup)
		}
		var bn struct{ Banner string }
		b.do(&bn, "banner", nil)
		if !strings.Contains(bn.Banner, before.Primary+" → "+before.Backup) {
			t.Fatalf("banner %q: want the switch %s → %s", bn.Banner, before.Primary, before.Backup)
		}
	})

	t.Run("a re-partitioning to 0 or to text is refused with the API's message", func(t *testing.T) {
		b.do(nil, "goto", map[string]any{"hash": "repartition"})
		for _, in := range []string{"0", "abc"} {
			var r struct{ Error string }
			b.do(&r, "repartition", map[string]any{"value": in})
			code, body := postToken(t, g.api+api.PathRepartition, g.token, map[string]string{"0": `{"partitions":0}`, "abc": `{"partitions":"abc"}`}[in])
			var env api.ErrorBody
			if err := json.Unmarshal([]byte(body), &env); err != nil || code != 400 {
				t.Fatalf("the API's answer to %q: %d %s", in, code, body)
			}
			if r.Error != env.Error.Message {
				t.Fatalf("the form shows %q for %q, the API says %q", r.Error, in, env.Error.Message)
			}
		}
		b.screenshot("repartition")
		if st, err := g.repartitionStatus(); err != nil || !st.Idle() || st.Partitions != 4 {
			t.Fatalf("after the refusals: %+v %v, want 4 partitions and nothing pending", st, err)
		}
	})

	t.Run("the key browser finds a key and shows its value", func(t *testing.T) {
		rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{fmt.Sprintf("127.0.0.1:%d", g.base+10)}, MaxRedirects: 8})
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := rdb.Set(ctx, "ui:greeting", "hello from the grid", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.HSet(ctx, "ui:user:7", "name", "Ada", "lang", "en").Err(); err != nil {
			t.Fatal(err)
		}
		for i := range 30 {
			if err := rdb.Set(ctx, fmt.Sprintf("other:%d", i), i, 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
		b.do(nil, "goto", map[string]any{"hash": "keys"})
		var found struct {
			Keys  []string
			Error string
		}
		b.do(&found, "scanKeys", map[string]any{"pattern": "ui:*"})
		slices.Sort(found.Keys)
		if found.Error != "" || !slices.Equal(found.Keys, []string{"ui:greeting", "ui:user:7"}) {
			t.Fatalf("SCAN ui:* in the UI: %q %q, want ui:greeting and ui:user:7", found.Keys, found.Error)
		}
		var shown struct{ Type, Text string }
		b.do(&shown, "showKey", map[string]any{"key": "ui:greeting"})
		if shown.Type != "string" || !strings.Contains(shown.Text, "hello from the grid") {
			t.Fatalf("ui:greeting shown as %q: %q", shown.Type, shown.Text)
		}
		b.do(&shown, "showKey", map[string]any{"key": "ui:user:7"})
		if shown.Type != "hash" || !strings.Contains(shown.Text, "Ada") || !strings.Contains(shown.Text, "lang") {
			t.Fatalf("ui:user:7 shown as %q: %q", shown.Type, shown.Text)
		}
		b.screenshot("keys")
	})

	t.Run("the slot map and a phone-width screen", func(t *testing.T) {
		b.do(nil, "goto", map[string]any{"hash": "slots"})
		b.screenshot("slots")
		b.do(nil, "open", map[string]any{"url": loginURL(t, g.api, g.token), "width": 390, "height": 844})
		b.do(nil, "goto", map[string]any{"hash": "partitions"})
		if got := b.rows(); len(got) != 4 {
			t.Fatalf("on a phone-width screen the table has %d rows", len(got))
		}
		b.screenshot("phone")
	})

	t.Run("without a login the actions are hidden and refused", func(t *testing.T) {
		b.do(nil, "open", map[string]any{"url": g.api + ui.PathUI})
		b.do(nil, "goto", map[string]any{"hash": "partitions"})
		b.do(&acts, "actions", nil)
		if acts.VisibleButtons != 0 || acts.RepartitionForm {
			t.Fatalf("signed out: %d action buttons and form %v visible", acts.VisibleButtons, acts.RepartitionForm)
		}
		if code, body := uiPost(t, g.api, "", api.PartitionPath(0, api.OpFailover)); code != http.StatusUnauthorized {
			t.Fatalf("a signed-out UI's failover: HTTP %d %s, want 401", code, body)
		}
	})

	var errs struct{ Errors []string }
	b.do(&errs, "errors", nil)
	if len(errs.Errors) != 0 {
		t.Fatalf("the page logged errors: %q", errs.Errors)
	}
}

// TestWebUIReadOnly: with --ui-read-only a signed-in page shows no action, and the API
// refuses the UI's POSTs.
func TestWebUIReadOnly(t *testing.T) {
	b := startBrowser(t)
	_, apiURL, _, token := runLocal(t, 2, 2, "--ui-read-only")
	b.do(nil, "open", map[string]any{"url": loginURL(t, apiURL, token)})
	b.do(nil, "goto", map[string]any{"hash": "partitions"})
	var acts struct {
		VisibleButtons  int    `json:"visibleButtons"`
		RepartitionForm bool   `json:"repartitionForm"`
		Banner          string `json:"banner"`
	}
	b.do(&acts, "actions", nil)
	if acts.VisibleButtons != 0 || acts.RepartitionForm || !strings.Contains(acts.Banner, "Read-only") {
		t.Fatalf("read-only: %+v, want no action and the read-only banner", acts)
	}
	b.screenshot("read-only")
	// The manager itself refuses the UI's actions, whatever the page shows.
	if code, body := uiPost(t, apiURL, loginURL(t, apiURL, token), api.PartitionPath(0, api.OpFailover)); code != http.StatusForbidden || !strings.Contains(body, "read-only") {
		t.Fatalf("a signed-in UI's failover in read-only mode: HTTP %d %s, want 403 read-only", code, body)
	}
}

// uiPost signs in with login as a browser would (the session cookie, then the CSRF token
// of GET /ui/session) and POSTs path as the UI does; "" login: no session.
func uiPost(t *testing.T, apiURL, login, path string) (int, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	csrf := "none"
	if login != "" {
		resp, err := hc.Get(login)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var s ui.Session
		if err := getWith(hc, apiURL+ui.PathSession, &s); err != nil || !s.Authenticated {
			t.Fatalf("session after the login: %+v %v", s, err)
		}
		csrf = s.CSRF
	}
	req, _ := http.NewRequest(http.MethodPost, apiURL+path, nil)
	req.Header.Set(ui.CSRFHeader, csrf)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func getWith(hc *http.Client, url string, v any) error {
	resp, err := hc.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// TestWebUIFirstPaint64 is a benchmark (ci/bench-ui.sh sets INSIGHT_UI_BENCH): the first
// paint of the overview of a 64-partition grid, from the navigation to the first overview
// drawn in the browser, against the anchor of the manager's own GET /v1/overview of the
// same grid. It prints; it asserts no time.
func TestWebUIFirstPaint64(t *testing.T) {
	if os.Getenv("INSIGHT_UI_BENCH") == "" {
		t.Skip("a benchmark: ci/bench-ui.sh runs it (INSIGHT_UI_BENCH=1)")
	}
	b := startBrowser(t)
	_, apiURL, _, token := runLocal(t, 64, 64, "--restart-delay", "0")
	var opened struct {
		FirstPaintMs int `json:"firstPaintMs"`
	}
	const n = 5
	var paint, anchor []int
	for range n {
		start := time.Now()
		var o api.Overview
		if err := getInto(apiURL+api.PathOverview, &o); err != nil || len(o.Partitions) != 64 {
			t.Fatalf("GET /v1/overview: %d partitions, %v", len(o.Partitions), err)
		}
		anchor = append(anchor, int(time.Since(start).Milliseconds()))
		b.do(&opened, "open", map[string]any{"url": loginURL(t, apiURL, token)})
		paint = append(paint, opened.FirstPaintMs)
	}
	if rows := b.rows(); len(rows) != 64 {
		t.Fatalf("the table has %d rows, want 64", len(rows))
	}
	slices.Sort(paint)
	slices.Sort(anchor)
	p, a := paint[n/2], anchor[n/2]
	fmt.Printf("%-34s %8d %8d %7.2f %8d\n", "first paint, 64 partitions", p, a, float64(p)/float64(max(a, 1)), 1000)
	t.Logf("first paint of the overview with 64 partitions: %v ms; GET /v1/overview: %v ms", paint, anchor)
}
