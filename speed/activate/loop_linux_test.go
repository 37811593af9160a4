package activate

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLoopFraming: on one connection, pipelined requests are answered in
// order, a request split over writes is awaited, and what the loop does
// not read (a chunked body, an oversized head, a malformed line) is
// answered with a JSON error and the connection closed.
func TestLoopFraming(t *testing.T) {
	base := strings.TrimPrefix(newLoopServer(t, newAPI(t)), "http://")
	lookup := "GET /v1/profiles/user_id:u1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + activationKey + "\r\n\r\n"
	for _, c := range []struct {
		name   string
		writes []string
		want   []int // statuses, in order
		closed bool  // the loop closes the connection after them
	}{
		{"pipelined", []string{lookup + strings.Replace(lookup, "u1", "u2", 1) + lookup}, []int{200, 404, 200}, false},
		{"split", []string{lookup[:20], lookup[20:]}, []int{200}, false},
		{"body skipped", []string{"GET /v1/profiles/user_id:u1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + activationKey + "\r\nContent-Length: 3\r\n\r\nabc" + lookup}, []int{200, 200}, false},
		{"HTTP/1.0", []string{strings.Replace(lookup, "HTTP/1.1", "HTTP/1.0", 1)}, []int{200}, true},
		{"Connection: close", []string{strings.Replace(lookup, "Host: x", "Host: x\r\nConnection: close", 1) + lookup}, []int{200}, true},
		{"chunked", []string{"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + lookup}, []int{501}, true},
		{"no host", []string{"GET / HTTP/1.1\r\n\r\n"}, []int{400}, true},
		{"head too large", []string{"GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 9<<10)}, []int{431}, true},
		{"body too large", []string{"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 9000\r\n\r\n"}, []int{413}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", base)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			for _, w := range c.writes {
				if _, err := io.WriteString(conn, w); err != nil {
					t.Fatal(err)
				}
				time.Sleep(10 * time.Millisecond) // apart, as separate reads
			}
			r := bufio.NewReader(conn)
			for i, want := range c.want {
				resp, err := http.ReadResponse(r, nil)
				if err != nil {
					t.Fatalf("answer %d: %v", i, err)
				}
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != want || resp.Header.Get("Content-Type") != ContentType || !strings.HasPrefix(string(body), "{") {
					t.Errorf("answer %d: %d %s, want %d", i, resp.StatusCode, body, want)
				}
			}
			_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			_, err = r.ReadByte()
			if closed := err == io.EOF; closed != c.closed {
				t.Errorf("closed after the answers: %v (%v), want %v", closed, err, c.closed)
			}
		})
	}
}

// TestLoopOutOfDescriptors: when accept fails for want of descriptors,
// the connection stays queued and the listener readable; the loop stops
// watching it for a while rather than waking for it again and again, and
// accepts the connection once descriptors are free.
func TestLoopOutOfDescriptors(t *testing.T) {
	l, ln := startLoop(t, newAPI(t))
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	// The limit is on descriptor numbers: lower it to just above the
	// highest in use, fill the free numbers below, then free one for the
	// client's socket. None is left for the loop's accept.
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	highest := 0
	for _, f := range fds {
		if n, err := strconv.Atoi(f.Name()); err == nil {
			highest = max(highest, n)
		}
	}
	low := lim
	low.Cur = uint64(highest + 2)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	restored := false
	var fillers []int
	restore := func() {
		if !restored {
			restored = true
			if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
				t.Fatal(err)
			}
			for _, fd := range fillers {
				unix.Close(fd)
			}
		}
	}
	defer restore()
	for {
		fd, err := unix.Dup(0)
		if err != nil {
			break
		}
		fillers = append(fillers, fd)
	}
	if len(fillers) == 0 {
		t.Fatal("no descriptor to free for the client")
	}
	unix.Close(fillers[len(fillers)-1])
	fillers = fillers[:len(fillers)-1]
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial at the lowered limit: %v", err)
	}
	defer conn.Close()
	time.Sleep(50 * time.Millisecond) // the loop has tried and failed
	before := l.wakeups.Load()
	time.Sleep(300 * time.Millisecond)
	// At most one wake-up per pause (and the second's sweep); a loop
	// watching the readable listener wakes thousands of times.
	if n := l.wakeups.Load() - before; n > 10 {
		t.Errorf("%d wake-ups in 300 ms out of descriptors, want a few", n)
	}
	restore()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, "GET /v1/profiles/user_id:u1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+activationKey+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("answer once descriptors are free: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d, want 200", resp.StatusCode)
	}
}
