package command

import (
	"syscall"
	"time"
)

// prSetTimerSlack is PR_SET_TIMERSLACK of prctl(2).
const prSetTimerSlack = 29

// sleepUntil blocks the thread until t on the kernel's high-resolution
// timer. The runtime's timers wake through the netpoller, whose wait has
// millisecond granularity: time.Sleep(300µs) often takes a millisecond,
// and a load generator would count that overshoot as server latency. The
// thread's timer slack is set to 1 ns first (the default 50 µs would be
// counted too); a goroutine may move threads, so it is set every time.
func sleepUntil(t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, 1, 0)
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}
