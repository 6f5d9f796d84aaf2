package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// refusedWithoutToken checks that the release's manager at managerURL refuses a change
// from a caller outside the release (the test process, on the pod network): 401 without
// the operator token, 403 with a wrong one, and that the Secret insightctl reads holds the
// token the manager accepts (a failover of a partition number past the grid is then
// refused by the manager itself, 404, not by the guard).
func refusedWithoutToken(t *testing.T, ns, managerURL string) {
	t.Helper()
	post := func(token string) int {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, managerURL+"/v1/partitions/99/failover", nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("X-Insight-Token", token)
		}
		resp, err := managerHTTP(t, ns).Do(req)
		if err != nil {
			t.Fatalf("POST failover to %s: %v", managerURL, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(""); code != http.StatusUnauthorized {
		t.Errorf("failover without the operator token: HTTP %d, want 401", code)
	}
	if code := post("not-the-token"); code != http.StatusForbidden {
		t.Errorf("failover with a wrong operator token: HTTP %d, want 403", code)
	}
	s, err := cluster.Client.CoreV1().Secrets(ns).Get(context.Background(), "demo-insight-operator-token", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the operator token Secret: %v", err)
	}
	if code := post(strings.TrimSpace(string(s.Data["token"]))); code != http.StatusNotFound {
		t.Errorf("failover of partition 99 with the Secret's token: HTTP %d, want the manager's own 404", code)
	}
}
