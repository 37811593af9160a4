//go:build !linux

package command

import "time"

// sleepUntil blocks until t; elsewhere than Linux with the runtime's timers.
func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }
