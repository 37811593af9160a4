package activate

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
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
