// Package e2e holds the end-to-end tests: they run against the project's local cluster
// (make cluster-up) and are skipped unless INSIGHT_E2E=1, so a plain `go test ./...` stays quick.
package e2e

import (
	"fmt"
	"os"
	"testing"

	"github.com/insightgrid/insight/e2e/framework"
)

var cluster *framework.Cluster

func TestMain(m *testing.M) {
	if !framework.Enabled() {
		fmt.Printf("e2e: skipped (set %s=1 with a cluster from make cluster-up)\n", framework.EnvGate)
		os.Exit(0)
	}
	var err error
	if cluster, err = framework.Connect(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
