package command

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// loadConn is one keep-alive connection of the generator, with at most
// one request in flight.
type loadConn struct {
	fd   int
	buf  []byte // bytes read and not yet consumed; cap is the largest response
	rng  *rand.Rand
	busy bool
	req  int   // request in flight (its index in loadRequests)
	at   int64 // when it was due (open loop) or sent (closed loop), ns since the start
	next int   // open loop: the next request number k on this connection
}

// loadBufSize bounds a response (head and body).
const loadBufSize = 64 << 10

// loop runs the generator as redis-benchmark runs: one thread, one epoll
// set over non-blocking sockets, requests formatted in advance and written
// with one write(2), answers parsed in place; in the open loop a timerfd
// wakes it at the next send time (the runtime's timers wake through the
// netpoller with millisecond granularity). A goroutine per connection cost
// 15–24 µs of CPU a request in syscalls and wake-ups, on the cores the
// server runs on; this loop costs a few.
func (o *benchHTTPLoadOptions) loop(reqs *loadRequests) (*httpLoadResult, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("http-load: epoll_create1: %w", err)
	}
	defer unix.Close(ep)
	conns := make([]*loadConn, o.conns)
	for i := range conns {
		fd, err := dialNonblock(o.addr)
		if err != nil {
			return nil, fmt.Errorf("http-load: connect %s: %w", o.addr, err)
		}
		defer unix.Close(fd)
		conns[i] = &loadConn{fd: fd, buf: make([]byte, 0, loadBufSize), rng: rand.New(rand.NewPCG(o.seed, uint64(i))), next: i}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i)}); err != nil {
			return nil, fmt.Errorf("http-load: epoll_ctl: %w", err)
		}
	}
	l := &eventLoop{o: o, reqs: reqs, ep: ep, conns: conns, start: time.Now()}
	// This thread does all the work (the runtime's others idle).
	const self = "/proc/thread-self/schedstat"
	wait := runqWait(self)
	if o.rate == 0 {
		err = l.closed()
	} else {
		err = l.open()
	}
	if err != nil {
		return nil, err
	}
	l.stats.runqWait = runqWait(self) - wait
	return o.result(&l.stats)
}

type eventLoop struct {
	o     *benchHTTPLoadOptions
	reqs  *loadRequests
	ep    int
	conns []*loadConn
	start time.Time
	stats loadStats
	// inFlight counts the connections waiting for an answer.
	inFlight int
}

// now is the time since the start in ns (time.Since reads the vDSO clock).
func (l *eventLoop) now() int64 { return int64(time.Since(l.start)) }

// send writes request req on c; at is when it counts from.
func (l *eventLoop) send(c *loadConn, req int, at int64) error {
	b := l.reqs.get(req)
	for len(b) > 0 {
		n, err := unix.Write(c.fd, b)
		if err != nil {
			// One small request in flight never fills a socket's buffer.
			return fmt.Errorf("http-load: write: %w", err)
		}
		b = b[n:]
	}
	c.busy, c.req, c.at = true, req, at
	l.inFlight++
	return nil
}

// readable reads what c has; done is set when its answer is complete,
// which is then checked and recorded.
func (l *eventLoop) readable(c *loadConn) (done bool, err error) {
	n, err := unix.Read(c.fd, c.buf[len(c.buf):cap(c.buf)])
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		return false, nil
	case err != nil:
		return false, fmt.Errorf("http-load: read: %w", err)
	case n == 0:
		return false, errors.New("http-load: the server closed a connection")
	}
	c.buf = c.buf[:len(c.buf)+n]
	status, headLen, bodyLen, err := parseResponseHead(c.buf)
	if err == errIncompleteHead {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("http-load: %s: %w", l.reqs.paths[c.req], err)
	}
	total := headLen + bodyLen
	switch {
	case total > cap(c.buf):
		return false, fmt.Errorf("http-load: %s: a response of %d bytes, more than the generator's %d", l.reqs.paths[c.req], total, cap(c.buf))
	case len(c.buf) < total:
		return false, nil
	case !c.busy || len(c.buf) > total:
		return false, fmt.Errorf("http-load: %d bytes more than the answers to the requests sent", len(c.buf)-total)
	}
	l.stats.answered(l.reqs, c.req, status, c.buf[headLen:total], time.Duration(l.now()-c.at))
	c.buf, c.busy = c.buf[:0], false
	l.inFlight--
	return true, nil
}

// wait returns the ready connections (and timerfd), waiting at most ms
// milliseconds.
func (l *eventLoop) wait(events []unix.EpollEvent, ms int) ([]unix.EpollEvent, error) {
	for {
		n, err := unix.EpollWait(l.ep, events, ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("http-load: epoll_wait: %w", err)
		}
		return events[:n], nil
	}
}

// cpuTime is this process's CPU time, user and system.
func cpuTime() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// contextSwitches counts this process's threads' context switches so far,
// voluntary (a thread went to sleep: futex, epoll_wait) or not.
func contextSwitches() int64 {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return ru.Nvcsw + ru.Nivcsw
}

// runqWait is how long the threads of the schedstat files (a
// /proc/<pid>/task/*/schedstat glob) waited on a run queue so far: runnable
// but not running, because other threads had the CPUs. 0 where the
// kernel keeps no schedstats.
func runqWait(glob string) time.Duration {
	files, _ := filepath.Glob(glob)
	var sum time.Duration
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// "<ns on CPU> <ns waiting on a run queue> <time slices>"
		if f := strings.Fields(string(b)); len(f) >= 2 {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			sum += time.Duration(n)
		}
	}
	return sum
}

// closed sends the next request on each connection as soon as the last
// is answered, until --duration; the answers to requests sent by then are
// awaited and counted.
func (l *eventLoop) closed() error {
	cpu0 := cpuTime()
	stop := int64(l.o.duration)
	for _, c := range l.conns {
		if err := l.send(c, c.rng.IntN(l.reqs.len()), l.now()); err != nil {
			return err
		}
	}
	events := make([]unix.EpollEvent, len(l.conns))
	for l.inFlight > 0 {
		evs, err := l.wait(events, 10_000)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return fmt.Errorf("http-load: %d requests unanswered for 10 s", l.inFlight)
		}
		for _, ev := range evs {
			c := l.conns[ev.Fd]
			done, err := l.readable(c)
			if err != nil {
				return err
			}
			if now := l.now(); done && now < stop {
				if err := l.send(c, c.rng.IntN(l.reqs.len()), now); err != nil {
					return err
				}
			}
		}
	}
	l.stats.took, l.stats.cpu = time.Duration(l.now()), cpuTime()-cpu0
	return nil
}

// open sends at a fixed rate whatever the answers: request k is due at
// begin + k/rate on connection k mod conns (each connection has its own
// schedule, as in wrk2). Its latency counts from when it was due: a
// connection still waiting for an answer sends late, and the wait is
// counted (no coordinated omission).
func (l *eventLoop) open() error {
	total := int(float64(l.o.rate) * l.o.duration.Seconds())
	// Whole nanoseconds, so that the timer below and due agree exactly.
	interval := max(int64(time.Second)/int64(l.o.rate), 1)
	tfd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("http-load: timerfd_create: %w", err)
	}
	defer unix.Close(tfd)
	const timerID = -1
	if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, tfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: timerID}); err != nil {
		return fmt.Errorf("http-load: epoll_ctl: %w", err)
	}
	l.stats.lat = make([]time.Duration, 0, total)
	l.stats.wakes = make([]time.Duration, 0, total)
	cpu0 := cpuTime()
	// One periodic timer, set once, fires when each request is due:
	// re-arming it per request cost more CPU than the request's write.
	// It is set relative to now (the monotonic clock's absolute value is
	// not the one time.Since counts from), so it fires a little after
	// each due time, never before.
	const lead = int64(20 * time.Millisecond)
	begin := l.now() + lead
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(lead), Interval: unix.NsecToTimespec(interval)}
	if err := unix.TimerfdSettime(tfd, 0, &spec, nil); err != nil {
		return fmt.Errorf("http-load: timerfd_settime: %w", err)
	}
	due := func(k int) int64 { return begin + int64(k)*interval }
	// g is the first request not yet due; the ones before it were sent or
	// wait for their connection's answer.
	g, answered := 0, 0
	var expiries [8]byte
	events := make([]unix.EpollEvent, len(l.conns)+1)
	deadline := due(total) + int64(30*time.Second)
	for answered < total {
		evs, err := l.wait(events, 1000)
		if err != nil {
			return err
		}
		if l.now() > deadline {
			return fmt.Errorf("http-load: %d requests unanswered 30 s after the last was due", total-answered)
		}
		for _, ev := range evs {
			if ev.Fd == timerID {
				_, _ = unix.Read(tfd, expiries[:]) // the count; resets the timerfd's readiness
				now := l.now()
				for ; g < total && due(g) <= now; g++ {
					if c := l.conns[g%len(l.conns)]; !c.busy {
						// c.next == g: an idle connection has sent all its earlier requests.
						if err := l.send(c, c.rng.IntN(l.reqs.len()), due(g)); err != nil {
							return err
						}
						l.stats.wakes = append(l.stats.wakes, time.Duration(now-due(g)))
					}
				}
				if g == total { // all due: stop the timer while the last answers come
					if err := unix.TimerfdSettime(tfd, 0, &unix.ItimerSpec{}, nil); err != nil {
						return fmt.Errorf("http-load: timerfd_settime: %w", err)
					}
				}
				continue
			}
			c := l.conns[ev.Fd]
			done, err := l.readable(c)
			if err != nil {
				return err
			}
			if !done {
				continue
			}
			answered++
			// Its next request was due while it waited: send it now, late,
			// and count the delay.
			if c.next += len(l.conns); c.next < g {
				if err := l.send(c, c.rng.IntN(l.reqs.len()), due(c.next)); err != nil {
					return err
				}
			}
		}
	}
	l.stats.took, l.stats.cpu = time.Duration(l.now()-begin), cpuTime()-cpu0
	return nil
}

// dialNonblock connects a TCP socket to addr and makes it non-blocking,
// with Nagle's algorithm off (each request is one write).
func dialNonblock(addr string) (int, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return -1, err
	}
	var sa unix.Sockaddr
	domain := unix.AF_INET
	if ip4 := ta.IP.To4(); ip4 != nil {
		sa4 := &unix.SockaddrInet4{Port: ta.Port}
		copy(sa4.Addr[:], ip4)
		sa = sa4
	} else {
		domain = unix.AF_INET6
		sa6 := &unix.SockaddrInet6{Port: ta.Port}
		copy(sa6.Addr[:], ta.IP.To16())
		sa = sa6
	}
	fd, err := unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	for {
		err = unix.Connect(fd, sa)
		if err != unix.EINTR {
			break
		}
	}
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	if err == nil {
		err = unix.SetNonblock(fd, true)
	}
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}
