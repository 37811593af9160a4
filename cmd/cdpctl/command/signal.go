package command

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// SignalError is a command that a signal stopped. It exits with 128 plus
// the signal's number, as a shell reports a process the signal killed
// (130 for Ctrl-C), so that scripts tell it from a failure.
type SignalError struct {
	Signal syscall.Signal
}

func (e *SignalError) Error() string {
	if e.Signal == syscall.SIGINT {
		return "interrupted"
	}
	return e.Signal.String() // "terminated"
}

// ExitCode is the process's exit status.
func (e *SignalError) ExitCode() int { return 128 + int(e.Signal) }

// signalContext is signal.NotifyContext with a *SignalError for cause,
// which says which signal came (NotifyContext's cause is only a string).
func signalContext(parent context.Context, sigs ...os.Signal) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	go func() {
		select {
		case s := <-ch:
			cancel(&SignalError{Signal: s.(syscall.Signal)})
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		cancel(nil)
	}
}
