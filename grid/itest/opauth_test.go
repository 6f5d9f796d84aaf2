package itest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/internal/testutil"
)

// send posts body to url with the headers given and returns the status, the
// WWW-Authenticate header and the error envelope's code.
func send(t *testing.T, url, body string, header map[string]string) (status int, authenticate, code string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	var ae apiError
	_ = json.NewDecoder(resp.Body).Decode(&ae)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), ae.Error.Code
}

// TestLocalGuardsChangesWithTheOperatorToken checks the local grid's manager API and a
// data instance's /v1/handover: without the token a change is refused with 401, with a
// wrong one 403, with the token (in either header) it reaches the handler, and reads stay
// open.
func TestLocalGuardsChangesWithTheOperatorToken(t *testing.T) {
	if grid.token == "" {
		t.Fatal("the local grid runs without an operator token")
	}
	failover := grid.api + api.PartitionPath(0, api.OpFailover)
	handover := fmt.Sprintf("http://127.0.0.1:%d/v1/handover", grid.base+1010)
	for _, c := range []struct {
		name, url, body string
		header          map[string]string
		status          int
		code            string
	}{
		{"failover without a token", failover, "", nil, 401, "Unauthorized"},
		{"failover with a wrong token", failover, "", map[string]string{api.TokenHeader: "wrong"}, 403, "Forbidden"},
		// Past the guard: the grid has no backups, so the manager itself refuses.
		{"failover with the token", failover, "", map[string]string{api.TokenHeader: grid.token}, 409, "Conflict"},
		{"failover with the bearer token", failover, "", map[string]string{"Authorization": "Bearer " + grid.token}, 409, "Conflict"},
		{"handover without a token", handover, `{"to":"p0-i1","epoch":1}`, nil, 401, "Unauthorized"},
		{"handover with a wrong token", handover, `{"to":"p0-i1","epoch":1}`, map[string]string{"Authorization": "Bearer wrong"}, 403, "Forbidden"},
		// Past the guard: the data instance refuses the body.
		{"handover with the token", handover, `{"bad": 1}`, map[string]string{api.TokenHeader: grid.token}, 400, "BadRequest"},
	} {
		status, authenticate, code := send(t, c.url, c.body, c.header)
		if status != c.status || code != c.code || (status == 401) != strings.HasPrefix(authenticate, "Bearer") {
			t.Errorf("%s: HTTP %d %s, WWW-Authenticate %q; want %d %s", c.name, status, code, authenticate, c.status, c.code)
		}
	}
	var ps struct{ Partitions []partition }
	getJSON(t, "/v1/partitions", 200, &ps) // without a token
}

// TestAdminCommandsReadTheLocalOperatorTokenFile runs insight-grid failover against the
// local grid without and with the token file local printed.
func TestAdminCommandsReadTheLocalOperatorTokenFile(t *testing.T) {
	run := func(env []string, args ...string) (int, string) {
		cmd := exec.Command(grid.bin, append([]string{"failover", "--manager", grid.api, "--partition", "0"}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		return cmd.ProcessState.ExitCode(), fmt.Sprint(stderr.String(), err)
	}
	if code, stderr := run(nil); code != 1 || !strings.Contains(stderr, "send the operator token in the header X-Insight-Token") {
		t.Errorf("failover without the token: exit %d, %s", code, stderr)
	}
	for _, c := range []struct {
		env  []string
		args []string
	}{{nil, []string{"--operator-token-file", grid.tokenFile}}, {[]string{"INSIGHT_OPERATOR_TOKEN_FILE=" + grid.tokenFile}, nil}} {
		// Past the guard: the grid has no backups, so the manager refuses the failover.
		if code, stderr := run(c.env, c.args...); code != 1 || !strings.Contains(stderr, "has no backup") {
			t.Errorf("failover with the token file (%v %v): exit %d, %s", c.env, c.args, code, stderr)
		}
	}
}

// TestPlannedFailoverPresentsTheOperatorTokenToTheDataInstance runs a planned failover and
// failback on an HA local grid: the manager must present the token to the primary's
// /v1/handover for them to succeed.
func TestPlannedFailoverPresentsTheOperatorTokenToTheDataInstance(t *testing.T) {
	g := startHALocal(t, 1, 1)
	if code, body := postToken(t, g.api+api.PartitionPath(0, api.OpFailover), g.token, ""); code != http.StatusOK {
		t.Fatalf("failover with the token: HTTP %d %s", code, body)
	}
	// The manager's automatic failback may be handing the partition back meanwhile (a
	// 409 until it is done): either way, the preferred primary serves again.
	var code int
	var body string
	testutil.Eventually(t, 30*time.Second, "a failback with the token", func() bool {
		code, body = postToken(t, g.api+api.PartitionPath(0, api.OpFailback), g.token, "")
		return code == http.StatusOK
	})
	if pt := g.waitHealthy(t, 0, 30*time.Second); pt.Primary != "p0-i0" {
		t.Fatalf("after the failback the primary is %s, want p0-i0 (last answer HTTP %d %s)", pt.Primary, code, body)
	}
}

// TestLocalPicksUpARotatedOperatorToken rewrites the token file local made, as the
// kubelet rewrites a Secret volume: the manager and the data instances take the new token
// and refuse the old one, without a restart. The old token is put back at the end.
func TestLocalPicksUpARotatedOperatorToken(t *testing.T) {
	old := grid.token
	write := func(token string, mod time.Time) {
		t.Helper()
		if err := os.WriteFile(grid.tokenFile, []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		// A modification time of its own, as a new file of the Secret volume has.
		if err := os.Chtimes(grid.tokenFile, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { write(old, time.Now()) })
	rotated := strings.ToUpper(old)
	if rotated == old {
		rotated = strings.Repeat("f", len(old))
	}
	write(rotated, time.Now().Add(time.Minute))
	failover := grid.api + api.PartitionPath(0, api.OpFailover)
	handover := fmt.Sprintf("http://127.0.0.1:%d/v1/handover", grid.base+1010)
	for _, c := range []struct {
		name, url, token string
		status           int
	}{
		{"manager, old token", failover, old, http.StatusForbidden},
		{"manager, rotated token", failover, rotated, http.StatusConflict}, // past the guard: no backup
		{"data instance, old token", handover, old, http.StatusForbidden},
		{"data instance, rotated token", handover, rotated, http.StatusBadRequest}, // past the guard: bad body
	} {
		if status, _, code := send(t, c.url, `{"bad": 1}`, map[string]string{api.TokenHeader: c.token}); status != c.status {
			t.Errorf("%s: HTTP %d %s, want %d", c.name, status, code, c.status)
		}
	}
}
