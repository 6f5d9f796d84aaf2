// Package exit holds insightctl's documented exit codes (docs/cli.md) and the error kinds
// that carry them, so that a workflow says what kind of failure it had without knowing
// about cobra, and the command line maps any error to its code in one place.
//
// It must not depend on anything but the standard library.
package exit

import "errors"

// Exit codes (docs/cli.md).
const (
	OK        = 0
	Failure   = 1
	BadInput  = 2
	Preflight = 3
	Timeout   = 4
	// Changes is diff --exit-code's answer when the command it previews would change the
	// release: an outcome, not a failure.
	Changes = 5
)

// Coder is an error that knows its exit code (validate.Error, preflight.Error, ...).
type Coder interface {
	error
	ExitCode() int
}

// kind wraps an error with an exit code.
type kind struct {
	err  error
	code int
	// quiet: the command has reported it already; nothing is printed for it.
	quiet bool
}

func (e *kind) Error() string { return e.err.Error() }
func (e *kind) Unwrap() error { return e.err }

// ExitCode implements Coder.
func (e *kind) ExitCode() int { return e.code }

// BadInputError marks err as the user's input (exit code 2).
func BadInputError(err error) error { return &kind{err: err, code: BadInput} }

// TimeoutError marks err as a wait that ran out of time (exit code 4).
func TimeoutError(err error) error { return &kind{err: err, code: Timeout} }

// ChangesFound is diff --exit-code's outcome when there are changes (exit code 5); the
// diff itself is the report, so no error is printed for it.
func ChangesFound() error {
	return &kind{err: errors.New("the release would change"), code: Changes, quiet: true}
}

// Quiet reports whether err is an outcome the command has reported already, for which the
// command line prints no error message.
func Quiet(err error) bool {
	var k *kind
	return errors.As(err, &k) && k.quiet
}

// Code maps an error to its exit code: the first Coder in its chain decides, anything
// else is a failure.
func Code(err error) int {
	if err == nil {
		return OK
	}
	var c Coder
	if errors.As(err, &c) {
		return c.ExitCode()
	}
	return Failure
}
