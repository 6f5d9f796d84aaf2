package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// diff before an upgrade: it shows the changed resources and no Secret when no secret value
// changes, exits 5 under --exit-code, and leaves the release at its revision; with nothing
// to change it prints nothing and exits 0. The first upgrade after the install changes one
// value nobody set, the managers' clusterState (new at install, existing after), and diff
// shows it.
func TestInsightctlDiff(t *testing.T) {
	ns := cluster.Namespace(t, "ctl-diff")
	insightctlOK(t, "install", "demo", "-n", ns, "--profile", "dev", "--set", "global.auth.enabled=true,global.auth.password=e2e-diff-pw", "--timeout", "4m")

	first := insightctl(t, "diff", "upgrade", "demo", "-n", ns, "--exit-code")
	if first.ExitCode != 5 || !strings.Contains(first.Stdout, "-  clusterState: new\n") || !strings.Contains(first.Stdout, "+  clusterState: existing\n") ||
		!strings.Contains(first.Stderr, "would change 1 object") {
		t.Errorf("diff after the install: exit %d, want 5 and only the managers' clusterState changing\n%s\n%s", first.ExitCode, first.Stdout, first.Stderr)
	}
	insightctlOK(t, "upgrade", "demo", "-n", ns, "--timeout", "4m")

	res := insightctl(t, "diff", "upgrade", "demo", "-n", ns, "--memory", "300Mi", "--exit-code")
	if res.ExitCode != 5 {
		t.Fatalf("diff --exit-code with a change: exit %d, want 5\n%s\n%s", res.ExitCode, res.Stdout, res.Stderr)
	}
	for _, s := range []string{"demo-insight-pu-0, StatefulSet (apps) has changed:", "-            memory: 256Mi\n", "+            memory: 300Mi\n"} {
		if !strings.Contains(res.Stdout, s) {
			t.Errorf("the diff lacks %q:\n%s", s, res.Stdout)
		}
	}
	if strings.Contains(res.Stdout, ", Secret has") {
		t.Errorf("a Secret shows as changing though no secret value changed:\n%s", res.Stdout)
	}
	if strings.Contains(res.Stdout+res.Stderr, "e2e-diff-pw") || strings.Contains(res.Stderr, "Error") {
		t.Errorf("the password or an error is printed:\n%s\n%s", res.Stdout, res.Stderr)
	}

	pw := insightctl(t, "diff", "upgrade", "demo", "-n", ns, "--set", "global.auth.password=e2e-diff-pw2")
	if pw.ExitCode != 0 || !strings.Contains(pw.Stdout, ", Secret has changed:") || strings.Contains(pw.Stdout, "e2e-diff-pw") {
		t.Errorf("a changed password: exit %d, want 0, the Secret shown changed and masked:\n%s\n%s", pw.ExitCode, pw.Stdout, pw.Stderr)
	}

	none := insightctl(t, "diff", "upgrade", "demo", "-n", ns, "--exit-code")
	if none.ExitCode != 0 || none.Stdout != "" {
		t.Errorf("diff without a change: exit %d, want 0 and no output:\n%s\n%s", none.ExitCode, none.Stdout, none.Stderr)
	}

	hist := insightctlOK(t, "history", "demo", "-n", ns, "-o", "json")
	var revs []struct {
		Revision int `json:"revision"`
	}
	if err := json.Unmarshal([]byte(hist.Stdout), &revs); err != nil {
		t.Fatalf("history -o json: %v\n%s", err, hist.Stdout)
	}
	if len(revs) != 2 {
		t.Errorf("diff changed the release: revisions %v, want the install and the first upgrade", revs)
	}
	insightctlOK(t, "uninstall", "demo", "-n", ns)
}
