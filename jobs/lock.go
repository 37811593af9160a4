package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/tributary-cdp/tributary/lake"
)

// Lease is the content of a job's lock object, _meta/locks/<job>.json.
type Lease struct {
	Job      string    `json:"job"`
	RunID    string    `json:"run_id"`
	Host     string    `json:"host"`
	PID      int       `json:"pid"`
	Acquired time.Time `json:"acquired"`
	Expires  time.Time `json:"expires"`
}

// LockKey is where job's lease lives.
func LockKey(job string) string { return lake.MetaPrefix + "locks/" + job + ".json" }

// AlreadyRunningError is returned when another run holds the job's lock.
type AlreadyRunningError struct {
	Lease Lease
}

func (e *AlreadyRunningError) Error() string {
	l := e.Lease
	return fmt.Sprintf("job %s is already running (run %s, pid %d on %s, since %s); wait for it to finish, or pass --wait to queue behind it",
		l.Job, l.RunID, l.PID, l.Host, l.Acquired.Format(time.RFC3339))
}

// stale reports whether the holder of l is gone: its lease expired, or
// it ran on this host and its process no longer exists (kill -9).
func (l Lease) stale(now time.Time, host string) bool {
	if now.After(l.Expires) {
		return true
	}
	if l.Host == host && l.PID > 0 && l.PID != os.Getpid() {
		err := syscall.Kill(l.PID, 0)
		return errors.Is(err, syscall.ESRCH)
	}
	return false
}

// lock is a held job lock, renewed in the background until released.
type lock struct {
	st    lake.Storage
	lease Lease
	ttl   time.Duration
	lost  chan struct{}
	stop  chan struct{}
	done  chan struct{}
}

// acquire takes job's lock. When wait is false and another live run holds
// it, acquire returns an *AlreadyRunningError; when wait is true it polls
// until the lock is free or ctx ends.
func acquire(ctx context.Context, st lake.Storage, lease Lease, ttl time.Duration, wait bool, poll time.Duration) (*lock, error) {
	key := LockKey(lease.Job)
	for {
		lease.Acquired = time.Now().UTC()
		lease.Expires = lease.Acquired.Add(ttl)
		b, _ := json.Marshal(lease)
		err := st.PutIfAbsent(ctx, key, bytes.NewReader(b))
		if err == nil {
			l := &lock{st: st, lease: lease, ttl: ttl, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
			go l.renew()
			return l, nil
		}
		if !lake.IsExist(err) {
			return nil, fmt.Errorf("lock job %s: %w", lease.Job, err)
		}
		held, err := readLease(ctx, st, key)
		switch {
		case lake.IsNotExist(err):
			continue // released between our two calls
		case err != nil:
			return nil, fmt.Errorf("lock job %s: %w", lease.Job, err)
		}
		if held.stale(time.Now(), lease.Host) {
			// The holder died. Remove its lease and race for a fresh one;
			// PutIfAbsent lets only one contender win.
			if err := st.Delete(ctx, key); err != nil {
				return nil, fmt.Errorf("lock job %s: remove stale lease of run %s: %w", lease.Job, held.RunID, err)
			}
			continue
		}
		if !wait {
			return nil, &AlreadyRunningError{Lease: held}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for job %s (held by run %s): %w", lease.Job, held.RunID, ctx.Err())
		case <-time.After(poll):
		}
	}
}

func readLease(ctx context.Context, st lake.Storage, key string) (Lease, error) {
	var l Lease
	b, err := lake.ReadObject(ctx, st, key)
	if err != nil {
		return l, err
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return l, fmt.Errorf("decode lease %s: %w", key, err)
	}
	return l, nil
}

// renew extends the lease every ttl/3; if the lease was taken over (we
// were presumed dead) it closes lost so the run stops.
func (l *lock) renew() {
	defer close(l.done)
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	key := LockKey(l.lease.Job)
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.ttl/3)
		held, err := readLease(ctx, l.st, key)
		if err == nil && held.RunID != l.lease.RunID || lake.IsNotExist(err) {
			cancel()
			close(l.lost)
			return
		}
		if err == nil {
			l.lease.Expires = time.Now().UTC().Add(l.ttl)
			b, _ := json.Marshal(l.lease)
			_ = l.st.Put(ctx, key, bytes.NewReader(b))
		}
		cancel()
	}
}

// release stops renewing and removes the lease if it is still ours.
func (l *lock) release(ctx context.Context) {
	close(l.stop)
	<-l.done
	key := LockKey(l.lease.Job)
	if held, err := readLease(ctx, l.st, key); err == nil && held.RunID == l.lease.RunID {
		_ = l.st.Delete(ctx, key)
	}
}
