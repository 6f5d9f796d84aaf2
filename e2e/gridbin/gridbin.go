// Package gridbin builds, for tests, the grid's programs (insight-grid, insight-sql) that
// they run as processes: the integration tests of the grid, of its WAN replication and
// SQL endpoint, and of insightctl's commands that reach a local grid. It lives under e2e/
// so that the CLI's tests may import it too (they may import no grid package but
// grid/api).
package gridbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The programs Build builds, by their file names in the directory it returns.
const (
	Grid = "insight-grid"
	SQL  = "insight-sql"
)

// Build builds the named programs (Grid, SQL; Grid when none is named) into a new
// temporary directory and returns it, with what removes it. A failed build's error
// carries go build's output.
func Build(programs ...string) (dir string, cleanup func(), err error) {
	if len(programs) == 0 {
		programs = []string{Grid}
	}
	dir, err = os.MkdirTemp("", "insight-gridbin-")
	if err != nil {
		return "", nil, fmt.Errorf("a directory for %v: %w", programs, err)
	}
	cleanup = func() { os.RemoveAll(dir) }
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, p := range programs {
		if p != Grid && p != SQL {
			cleanup()
			return "", nil, fmt.Errorf("program %q: want %s or %s", p, Grid, SQL)
		}
		args = append(args, "github.com/insightgrid/insight/grid/cmd/"+p)
	}
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("building %v: %w\n%s", programs, err, out)
	}
	return dir, cleanup, nil
}

// Main is a TestMain that builds insight-grid, sets *bin to its path, runs the tests and
// exits with their code, the binary removed; a failed build exits 1 before any test.
func Main(m *testing.M, bin *string) {
	dir, cleanup, err := Build(Grid)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bin = filepath.Join(dir, Grid)
	code := m.Run()
	cleanup()
	os.Exit(code)
}
