package itest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insightgrid/insight/e2e/clients"
)

// clientSections are the sections of the programs under e2e/clients that TestRedisClients runs,
// every one of them: strings, keys, hashes, lists, sets, sorted sets, streams, bitmaps (with
// HyperLogLog), blocking (BLPOP woken by another client's push), transactions (MULTI/EXEC on
// keys of one slot, WATCH aborting EXEC on another client's change), scripting (EVAL, EVALSHA
// through each library's script helper, errors inside a script) and pubsub (SUBSCRIBE and
// PSUBSCRIBE receiving what PUBLISH sent to any node); they pass against redis-server 7.0 in
// cluster mode too. INSIGHT_CLIENT_SECTIONS (comma-separated) replaces the list for one run.
var clientSections = []string{"strings", "keys", "hashes", "lists", "sets", "sortedsets", "streams", "bitmaps", "blocking",
	"transactions", "scripting", "pubsub"}

// clientTimeout bounds one client program: the Java one compiles its source first.
const clientTimeout = 3 * time.Minute

// clientProgram is one Redis client library's program under e2e/clients.
type clientProgram struct {
	name    string // the subtest's name
	lang    string // its language in ci/clients.sh, which installs the library
	runtime string // the command that runs it
	// command builds the command line that runs the sections against seed, given the library's
	// install directory and the repository root.
	command func(ctx context.Context, repo, dir, seed, sections string) *exec.Cmd
}

var clientPrograms = []clientProgram{
	{"ioredis", "node", "node", func(ctx context.Context, repo, dir, seed, sections string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, "node", filepath.Join(repo, "e2e/clients/node/ioredis.js"), seed, sections)
		cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
		return cmd
	}},
	{"node-redis", "node", "node", func(ctx context.Context, repo, dir, seed, sections string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, "node", filepath.Join(repo, "e2e/clients/node/node-redis.js"), seed, sections)
		cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
		return cmd
	}},
	{"redis-py", "python", "python3", func(ctx context.Context, repo, dir, seed, sections string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, "python3", filepath.Join(repo, "e2e/clients/python/redis_py.py"), seed, sections)
		cmd.Env = append(os.Environ(), "PYTHONPATH="+dir, "PYTHONDONTWRITEBYTECODE=1")
		return cmd
	}},
	{"jedis", "java", "java", func(ctx context.Context, repo, dir, seed, sections string) *exec.Cmd {
		return exec.CommandContext(ctx, "java", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
			"-cp", filepath.Join(dir, "lib", "*"), filepath.Join(repo, "e2e/clients/java/ClientCompat.java"), seed, sections)
	}},
}

// TestRedisClients runs real Redis cluster clients in other languages (ioredis, node-redis,
// redis-py, Jedis, installed by ci/clients.sh) against the grid, each through the sections of
// clientSections. A client whose runtime or installed library is missing is skipped, except in
// CI (CI=true), where that fails the test.
func TestRedisClients(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	sections := clientSections
	if s := os.Getenv("INSIGHT_CLIENT_SECTIONS"); s != "" {
		sections = strings.Split(s, ",")
	}
	dirs, err := clients.Dirs(repo)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range clientPrograms {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			if _, err := exec.LookPath(p.runtime); err != nil {
				clients.Missing(t, "%s: %s is not installed", p.name, p.runtime)
			}
			dir, ok := dirs[p.lang]
			if !ok {
				clients.Missing(t, "%s: the %s clients are not installed; run ci/clients.sh", p.name, p.lang)
			}
			ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
			defer cancel()
			cmd := p.command(ctx, repo, dir, grid.seed, strings.Join(sections, ","))
			cmd.WaitDelay = 5 * time.Second
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			start := time.Now()
			runErr := cmd.Run()
			passed, failures := clientResults(stdout.String())
			t.Logf("%s: %d of %d sections passed in %s", p.name, len(passed), len(sections), time.Since(start).Round(time.Millisecond))
			for _, f := range failures {
				t.Errorf("%s: %s", p.name, f)
			}
			if runErr != nil || len(passed) != len(sections) {
				t.Fatalf("%s: %v, passed %v of %v\nstdout:\n%s\nstderr:\n%s", p.name, runErr, passed, sections, stdout.String(), stderr.String())
			}
		})
	}
}

// clientResults reads a client program's output: the sections that passed, and the FAIL lines.
func clientResults(out string) (passed, failures []string) {
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "PASS "):
			name, _, _ := strings.Cut(strings.TrimPrefix(line, "PASS "), " ")
			passed = append(passed, name)
		case strings.HasPrefix(line, "FAIL "):
			failures = append(failures, line)
		}
	}
	return passed, failures
}
