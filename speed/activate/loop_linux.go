package activate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Loop serves look-ups on a listener with event loops: each a goroutine
// that keeps its thread, waiting in epoll_wait (a system call, not the
// netpoller), reading, answering with Serve and writing, without the Go
// scheduler in between. Through the
// runtime's netpoller (fasthttp, net/http) an isolated request woke
// several threads (the poller, a spinning M, sysmon from its deep sleep)
// and cost 50–70 µs of CPU instead of 20 on a 2-vCPU machine; here it
// wakes one thread once.
//
// It speaks HTTP/1.1 with keep-alive and pipelining (the answers in
// order), reads heads of up to LoopConfig.MaxRequest bytes (parseHead),
// skips a body that fits there and refuses chunked ones. Where there is
// no epoll (loop_other.go), Loop is FastServer.
type Loop struct {
	api   *API
	cfg   LoopConfig
	lnfd  int
	wake  int // eventfd: Close wakes the loops with it
	loops []*evloop
	start time.Time // of the loops' clock
	mu    sync.Mutex
	state int           // idle, running or closed
	done  chan struct{} // closed when the loops have returned and released all
	// wakeups counts the loops' returns from epoll_wait.
	wakeups atomic.Int64
}

// NewLoop serves on ln (a TCP listener, which the caller keeps and closes
// after Run returns) once Run is called.
func (a *API) NewLoop(ln net.Listener, cfg LoopConfig) (*Loop, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lnfd, err := dupListener(ln)
	if err != nil {
		return nil, err
	}
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(lnfd)
		return nil, fmt.Errorf("activation loop: eventfd: %w", err)
	}
	l := &Loop{api: a, cfg: cfg, lnfd: lnfd, wake: wake, start: time.Now(), done: make(chan struct{})}
	for range max(1, cfg.Threads) {
		ev, err := l.newEvloop()
		if err != nil {
			l.release()
			return nil, err
		}
		l.loops = append(l.loops, ev)
	}
	return l, nil
}

// dupListener returns a non-blocking duplicate of ln's socket: the loops
// accept on it; ln stays the caller's.
func dupListener(ln net.Listener) (int, error) {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return -1, fmt.Errorf("activation loop: a %T, not a TCP listener", ln)
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, fmt.Errorf("activation loop: dup the listener: %w", derr)
	}
	return fd, nil
}

func (l *Loop) newEvloop() (*evloop, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("activation loop: epoll_create1: %w", err)
	}
	ev := &evloop{l: l, ep: ep}
	// EPOLLEXCLUSIVE: a connection wakes one loop to accept it, not all.
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, l.lnfd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: int32(l.lnfd)}); err != nil {
		unix.Close(ep)
		return nil, fmt.Errorf("activation loop: epoll_ctl: %w", err)
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, l.wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(l.wake)}); err != nil {
		unix.Close(ep)
		return nil, fmt.Errorf("activation loop: epoll_ctl: %w", err)
	}
	return ev, nil
}

const (
	loopIdle = iota
	loopRunning
	loopClosed
)

// Run serves until Close, then writes the answers under way, closes the
// connections and returns. It returns at once if Close came first.
func (l *Loop) Run() error {
	l.mu.Lock()
	if l.state != loopIdle {
		l.mu.Unlock()
		return nil
	}
	l.state = loopRunning
	l.mu.Unlock()
	errs := make(chan error, len(l.loops))
	for _, ev := range l.loops {
		go func() { errs <- ev.run() }()
	}
	var err error
	for range l.loops {
		err = errors.Join(err, <-errs)
	}
	l.release()
	close(l.done)
	return err
}

// Close stops the loops and waits, at most until ctx ends, for Run to
// return; without Run, it releases the listener's duplicate and the
// epoll sets. It may be called more than once.
func (l *Loop) Close(ctx context.Context) error {
	l.mu.Lock()
	switch l.state {
	case loopIdle:
		l.release()
		close(l.done)
	case loopRunning:
		// The eventfd stays readable: every loop sees it.
		_, _ = unix.Write(l.wake, []byte{1, 0, 0, 0, 0, 0, 0, 0}) // 1, little-endian as Linux's amd64 and arm64
	}
	l.state = loopClosed
	l.mu.Unlock()
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Loop) release() {
	for _, ev := range l.loops {
		unix.Close(ev.ep)
	}
	l.loops = nil
	unix.Close(l.lnfd)
	unix.Close(l.wake)
}

// evloop is one thread's epoll set and connections.
type evloop struct {
	l     *Loop
	ep    int
	conns []*loopConn // by fd
	open  int
	now   int64  // ns since Loop.start, read once per wake-up
	body  []byte // Serve's answer, before it is framed in a connection's out
	date  []byte // the Date header's value, formatted once a second
	dateS int64  // the Unix second of date
	// acceptAt: when accepting resumes (ns since Loop.start), 0 while it
	// goes on; see accept.
	acceptAt int64
}

// loopConn is one connection: what was read and not yet answered, and
// what was answered and not yet written.
type loopConn struct {
	fd       int
	in, out  []byte
	deadline int64 // ns: closed when now passes it
	closing  bool  // close once out is written
	writing  bool  // EPOLLOUT is set
	// lingering: answered and shut for writing; what the client still
	// sends is dropped until it closes.
	lingering bool
}

func (ev *evloop) run() error {
	events := make([]unix.EpollEvent, 128)
	stopping := false
	nextSweep, nextYield := int64(0), int64(0)
	for !stopping || ev.open > 0 {
		timeout := 1000 // ms: the timeouts are swept each second
		if ev.acceptAt > 0 {
			timeout = acceptPause
		}
		n, err := unix.EpollWait(ev.ep, events, timeout)
		ev.l.wakeups.Add(1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("activation loop: epoll_wait: %w", err)
		}
		ev.tick()
		// A goroutine that never passes through the scheduler looks
		// stuck to sysmon after 10 ms: it signals the thread, takes the
		// P away in epoll_wait and polls every 20 µs (0.6–0.8 more
		// context switches a request). Locked to its thread, the loop
		// switched threads at each yield (and at each forced preemption
		// without). Each yield wakes a spinning M for the idle P, which
		// sleeps again or takes the loop to its thread: yielding every
		// yieldEvery, not every millisecond, took 0.6 switches a request
		// fewer at 2,000 req/s and 0.25 at 5,000.
		if ev.now >= nextYield {
			runtime.Gosched()
			nextYield = ev.now + int64(yieldEvery)
		}
		for _, e := range events[:n] {
			switch int(e.Fd) {
			case ev.l.lnfd:
				ev.accept()
			case ev.l.wake:
				stopping = true
				ev.stop()
			default:
				ev.ready(ev.conns[e.Fd], e.Events)
			}
		}
		if ev.acceptAt > 0 && ev.now >= ev.acceptAt && !stopping {
			ev.watchListener()
		}
		if ev.now >= nextSweep {
			ev.sweep()
			nextSweep = ev.now + int64(time.Second)
		}
	}
	return nil
}

// stop stops accepting and closes the connections that have nothing
// under way; the others close once their answers are written (or their
// write deadline passes).
func (ev *evloop) stop() {
	_ = unix.EpollCtl(ev.ep, unix.EPOLL_CTL_DEL, ev.l.lnfd, nil)
	_ = unix.EpollCtl(ev.ep, unix.EPOLL_CTL_DEL, ev.l.wake, nil)
	for _, c := range ev.conns {
		if c == nil {
			continue
		}
		if len(c.out) == 0 {
			ev.close(c)
		} else {
			c.closing = true
		}
	}
}

// yieldEvery is how often the loop passes through the scheduler: well
// within sysmon's 10 ms (forcePreemptNS), counted from its last look.
const yieldEvery = 5 * time.Millisecond

// acceptPause is how long, in ms, a loop stops accepting when it is out of
// descriptors or memory.
const acceptPause = 100

// watchListener watches the listener again after a pause of accept.
func (ev *evloop) watchListener() {
	// EPOLLEXCLUSIVE cannot be set by EPOLL_CTL_MOD: the listener was
	// taken out and goes back in.
	if err := unix.EpollCtl(ev.ep, unix.EPOLL_CTL_ADD, ev.l.lnfd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: int32(ev.l.lnfd)}); err != nil {
		slog.Warn("activation loop: watch the listener again", "err", err)
		ev.acceptAt = ev.now + acceptPause*int64(time.Millisecond)
		return
	}
	ev.acceptAt = 0
}

func (ev *evloop) accept() {
	for {
		fd, _, err := unix.Accept4(ev.l.lnfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch err {
		case nil:
		case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
			// The connection stays queued and the listener readable: watched,
			// it would wake this loop at once, again and again. Stop watching
			// it for a while (as net/http and fasthttp back off).
			slog.Warn("activation loop: accept", "err", err, "pause", time.Duration(acceptPause)*time.Millisecond)
			_ = unix.EpollCtl(ev.ep, unix.EPOLL_CTL_DEL, ev.l.lnfd, nil)
			ev.acceptAt = ev.now + acceptPause*int64(time.Millisecond)
			return
		default:
			return // EAGAIN: another loop took it; ECONNABORTED and the like are the client's loss
		}
		// Answers are written whole, in one write: Nagle would only delay them.
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		if err := unix.EpollCtl(ev.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)}); err != nil {
			unix.Close(fd)
			continue
		}
		for len(ev.conns) <= fd {
			ev.conns = append(ev.conns, nil)
		}
		ev.conns[fd] = &loopConn{fd: fd, in: make([]byte, 0, ev.l.cfg.MaxRequest), deadline: ev.now + int64(ev.l.cfg.IdleTimeout)}
		ev.open++
	}
}

// ready reads what c has, answers the whole requests in it and writes
// the answers.
func (ev *evloop) ready(c *loopConn, events uint32) {
	if c == nil {
		return
	}
	if events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		ev.close(c)
		return
	}
	if c.lingering {
		if n, err := unix.Read(c.fd, c.in[:cap(c.in)]); n == 0 || err != nil && err != unix.EAGAIN && err != unix.EINTR {
			ev.close(c)
		}
		return
	}
	if events&unix.EPOLLOUT != 0 && !ev.flush(c) {
		return
	}
	if events&(unix.EPOLLIN|unix.EPOLLRDHUP) == 0 || c.writing {
		return
	}
	n, err := unix.Read(c.fd, c.in[len(c.in):cap(c.in)])
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		return
	case err != nil || n == 0:
		ev.close(c)
		return
	}
	c.in = c.in[:len(c.in)+n]
	ev.answer(c)
	if ev.flush(c) {
		ev.setDeadline(c)
	}
}

// answer answers the whole requests at the start of c.in, in order, and
// keeps the rest.
func (ev *evloop) answer(c *loopConn) {
	used := 0
	for !c.closing {
		b := c.in[used:]
		h, n, err := parseHead(b)
		switch {
		case err == errHeadIncomplete:
			if len(b) == cap(c.in)-used && used == 0 {
				ev.refuse(c, http.StatusRequestHeaderFieldsTooLarge, "header_too_large", "the request head is larger than "+strconv.Itoa(ev.l.cfg.MaxRequest)+" bytes")
			}
			c.in = c.in[:copy(c.in, b)]
			return
		case err == errChunked:
			ev.refuse(c, http.StatusNotImplemented, "not_implemented", "Transfer-Encoding is not supported; a look-up has no body")
			return
		case err != nil:
			ev.refuse(c, http.StatusBadRequest, "bad_request", "malformed HTTP/1.1 request")
			return
		case h.contentLength > cap(c.in)-n:
			ev.refuse(c, http.StatusRequestEntityTooLarge, "body_too_large", "the request is larger than "+strconv.Itoa(ev.l.cfg.MaxRequest)+" bytes")
			return
		case h.contentLength > len(b)-n:
			c.in = c.in[:copy(c.in, b)] // the body is still coming
			return
		}
		used += n + h.contentLength // a look-up's body, if any, is skipped
		path, query, _ := strings.Cut(h.target, "?")
		body, status := ev.l.api.Serve(ev.body[:0], h.method, path, query, h.authorization)
		c.out = ev.appendAnswer(c.out, body, status, h.method == http.MethodHead, h.close)
		ev.body = body
		if h.close {
			c.closing = true
		}
	}
	c.in = c.in[:0]
}

// appendAnswer appends the status line, the headers and (not for HEAD)
// the body to dst: the headers fasthttp and net/http send.
func (ev *evloop) appendAnswer(dst, body []byte, status int, head, close bool) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, http.StatusText(status)...)
	dst = append(dst, "\r\nDate: "...)
	dst = append(dst, ev.date...)
	dst = append(dst, "\r\nContent-Type: "+ContentType+"\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	switch status {
	case http.StatusOK:
		dst = append(dst, "\r\nCache-Control: no-store"...)
	case http.StatusMethodNotAllowed:
		dst = append(dst, "\r\nAllow: GET, HEAD"...)
	}
	if close {
		dst = append(dst, "\r\nConnection: close"...)
	}
	dst = append(dst, "\r\n\r\n"...)
	if head {
		return dst
	}
	return append(dst, body...)
}

// refuse answers a request the loop does not read with a JSON error and
// closes the connection after it: what follows in it cannot be framed.
func (ev *evloop) refuse(c *loopConn, status int, code, msg string) {
	body, _ := appendError(ev.body[:0], status, code, msg)
	c.out = ev.appendAnswer(c.out, body, status, false, true)
	ev.body = body
	c.closing = true
}

// flush writes c.out; it returns false when c takes no more requests
// (closed or lingering). What the socket does not take is written when
// it says it can (EPOLLOUT), and c reads no more requests until then.
func (ev *evloop) flush(c *loopConn) bool {
	for len(c.out) > 0 {
		n, err := unix.Write(c.fd, c.out)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			if !c.writing {
				c.writing = true
				c.deadline = ev.now + int64(ev.l.cfg.WriteTimeout)
				// Not EPOLLIN meanwhile: unread requests would wake the loop for nothing.
				_ = unix.EpollCtl(ev.ep, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLOUT, Fd: int32(c.fd)})
			}
			return true
		}
		if err != nil {
			ev.close(c)
			return false
		}
		c.out = c.out[:copy(c.out, c.out[n:])]
	}
	if c.closing {
		// Closed on unread bytes, the connection would be reset, and the
		// client could lose the answer before reading it: as net/http
		// does, shut the writing side and drop what comes until the
		// client closes, for a second at most (sweep).
		if unix.Shutdown(c.fd, unix.SHUT_WR) != nil {
			ev.close(c)
			return false
		}
		c.lingering, c.deadline = true, ev.now+int64(time.Second)
		if c.writing {
			c.writing = false
			_ = unix.EpollCtl(ev.ep, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(c.fd)})
		}
		return false
	}
	if c.writing {
		c.writing = false
		_ = unix.EpollCtl(ev.ep, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(c.fd)})
		ev.answer(c) // requests read before the socket filled up
		return ev.flush(c)
	}
	if cap(c.out) > 64<<10 { // an outsized answer's buffer goes to the GC
		c.out = nil
	}
	return true
}

// setDeadline gives c, all written, the time its next request has.
func (ev *evloop) setDeadline(c *loopConn) {
	if len(c.in) > 0 {
		c.deadline = ev.now + int64(ev.l.cfg.ReadTimeout)
	} else {
		c.deadline = ev.now + int64(ev.l.cfg.IdleTimeout)
	}
}

// sweep closes the connections past their deadline.
func (ev *evloop) sweep() {
	for _, c := range ev.conns {
		if c != nil && ev.now > c.deadline {
			ev.close(c)
		}
	}
}

func (ev *evloop) close(c *loopConn) {
	unix.Close(c.fd) // which takes it out of the epoll set
	ev.conns[c.fd] = nil
	ev.open--
}

// tick reads the clock, and formats the Date header when the second changed.
func (ev *evloop) tick() {
	t := time.Now()
	ev.now = int64(t.Sub(ev.l.start))
	if s := t.Unix(); s != ev.dateS || ev.date == nil {
		ev.date = t.UTC().AppendFormat(ev.date[:0], http.TimeFormat)
		ev.dateS = s
	}
}
