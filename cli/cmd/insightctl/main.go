// Command insightctl installs and operates the Insight data grid on Kubernetes. main only
// builds the environment and runs the root command; the commands live in cli/internal/cmd.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/insightgrid/insight/cli/internal/cmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cmd.Execute(ctx, &cmd.Env{
		In:       os.Stdin,
		Out:      os.Stdout,
		ErrOut:   os.Stderr,
		Terminal: term.IsTerminal(int(os.Stdin.Fd())) && term.IsTerminal(int(os.Stdout.Fd())),
	}, os.Args[1:])
	stop()
	os.Exit(code)
}
