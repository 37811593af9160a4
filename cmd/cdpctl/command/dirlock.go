package command

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// dirLock is an exclusive lock on a directory of the data dir that one
// process at a time may write: the embedded broker's log (kafka/) and the
// speed layer's checkpoints (speed/). A second serve on the same data dir
// would otherwise delete the first one's delta checkpoints at its start and
// write the same files. The kernel drops the lock when the process dies, so
// a killed serve leaves nothing to clean up.
type dirLock struct{ f *os.File }

// lockDir takes the lock of dir for what (e.g. "the speed layer"), or says
// which process holds it.
func lockDir(dir, what string) (*dirLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	path := filepath.Join(dir, ".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if pid := lockPID(dir); pid > 0 {
				holder = "process " + strconv.Itoa(pid)
			}
			return nil, fmt.Errorf("%s (%s) is in use by %s: one %s per data dir; stop it, or give this one another --data-dir", dir, what, holder, what)
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	// The pid is only for that message: the lock is the flock.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f: f}, nil
}

// lockPID is the pid dir's lock file records (0 when none): the holder's
// while it holds the lock, the last holder's after.
func lockPID(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, ".lock"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// lockHolder is the live process that last took dir's lock, 0 when there
// is none. Only for messages: it does not take the lock to find out, which
// could make a serve starting at that moment fail.
func lockHolder(dir string) int {
	pid := lockPID(dir)
	if pid == 0 {
		return 0
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return 0
	}
	return pid
}

// release drops the lock; nil-safe and idempotent.
func (l *dirLock) release() {
	if l != nil && l.f != nil {
		l.f.Close() // closing the file drops its flock
		l.f = nil
	}
}
