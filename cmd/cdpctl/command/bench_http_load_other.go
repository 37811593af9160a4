//go:build !linux

package command

import (
	"errors"
	"time"
)

// loop needs epoll and timerfd.
func (o *benchHTTPLoadOptions) loop(*loadRequests) (*httpLoadResult, error) {
	return nil, errors.New("http-load: the load generator runs on Linux only (epoll, timerfd)")
}

// runqWait needs Linux's schedstats.
func runqWait(string) time.Duration { return 0 }

// contextSwitches needs getrusage's counts.
func contextSwitches() int64 { return 0 }
