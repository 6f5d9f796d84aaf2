// Package spark proves the insight-spark image (make image-spark) runs real Spark: its
// JRE, entrypoint and examples run inside the image's unpacked root filesystem through the
// node agent's sandbox (a chroot as uid 185, sharing the host's network), against a local
// grid with its SQL endpoint. It runs with the end-to-end tests (INSIGHT_E2E=1) and skips,
// saying so, when bin/images/insight-spark-*.tar has not been built.
package spark

import (
	"fmt"
	"os"
	"testing"

	"github.com/insightgrid/insight/e2e/nodeagent/sandbox"
)

func TestMain(m *testing.M) {
	// The sandbox starts the container's process as this binary's exec-container child.
	if len(os.Args) == 3 && os.Args[1] == sandbox.SubCommand {
		err := sandbox.Exec(os.Args[2])
		fmt.Fprintf(os.Stderr, "exec-container: %v\n", err)
		os.Exit(127)
	}
	os.Exit(m.Run())
}
