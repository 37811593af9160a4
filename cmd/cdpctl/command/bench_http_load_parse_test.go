package command

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestParseResponseHead(t *testing.T) {
	for _, tc := range []struct {
		name, in         string
		status, headLen  int
		bodyLen          int
		err              string // substring; "" for none
		incompleteHeadOK bool
	}{
		{name: "profile", in: "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{\"cdp_id\":1}",
			status: 200, headLen: 71, bodyLen: 12},
		{name: "body not in yet", in: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{",
			status: 200, headLen: 40, bodyLen: 100},
		{name: "lower-case name, spaces", in: "HTTP/1.1 404 Not Found\r\ncontent-length:\t 3 \r\n\r\nabc",
			status: 404, headLen: 47, bodyLen: 3},
		{name: "no reason", in: "HTTP/1.0 503\r\nContent-Length: 0\r\n\r\n", status: 503, headLen: 35},
		{name: "repeated equal lengths", in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
			status: 200, headLen: 57, bodyLen: 1},
		{name: "204 has no body", in: "HTTP/1.1 204 No Content\r\n\r\n", status: 204, headLen: 27},
		{name: "partial head", in: "HTTP/1.1 200 OK\r\nContent-Len", incompleteHeadOK: true},
		{name: "empty", in: "", incompleteHeadOK: true},
		{name: "no length", in: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello", err: "without Content-Length"},
		{name: "chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", err: "Transfer-Encoding"},
		{name: "conflicting lengths", in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy", err: "bad Content-Length"},
		{name: "negative length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", err: "bad Content-Length"},
		{name: "huge length", in: "HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n", err: "bad Content-Length"},
		{name: "interim", in: "HTTP/1.1 100 Continue\r\n\r\n", err: "interim"},
		{name: "HTTP/2", in: "HTTP/2 200\r\n\r\n", err: "malformed status line"},
		{name: "letters in code", in: "HTTP/1.1 2OO OK\r\n\r\n", err: "malformed status line"},
		{name: "code runs on", in: "HTTP/1.1 2000 OK\r\n\r\n", err: "malformed status line"},
		{name: "not HTTP", in: "+OK\r\n\r\n", err: "malformed status line"},
		{name: "header without colon", in: "HTTP/1.1 200 OK\r\nContent-Length 1\r\n\r\nx", err: "malformed response header"},
		{name: "space in name", in: "HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\nx", err: "malformed response header"},
		{name: "head too long", in: "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", maxResponseHead), err: "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, headLen, bodyLen, err := parseResponseHead([]byte(tc.in))
			switch {
			case tc.incompleteHeadOK:
				if err != errIncompleteHead {
					t.Fatalf("err %v, want errIncompleteHead", err)
				}
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one saying %q", err, tc.err)
				}
			case err != nil:
				t.Fatal(err)
			case status != tc.status || headLen != tc.headLen || bodyLen != tc.bodyLen:
				t.Fatalf("status %d head %d body %d, want %d %d %d", status, headLen, bodyLen, tc.status, tc.headLen, tc.bodyLen)
			}
		})
	}
}

// TestParseResponseHeadPieces feeds a pipelined stream of net/http's own
// responses a byte at a time: each is complete exactly when all its bytes
// are in, and the next starts after it.
func TestParseResponseHeadPieces(t *testing.T) {
	var stream bytes.Buffer
	bodies := []string{`{"cdp_id":"cdp_1"}` + "\n", "", strings.Repeat("x", 3000)}
	for i, b := range bodies {
		resp := &http.Response{StatusCode: 200 + i, ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{"Cache-Control": {"no-store"}},
			ContentLength: int64(len(b)), Body: io.NopCloser(strings.NewReader(b))}
		if err := resp.Write(&stream); err != nil {
			t.Fatal(err)
		}
	}
	all := stream.Bytes()
	for i, want := range bodies {
		var status, headLen, bodyLen int
		var err error
		n := 0
		for n = 0; n <= len(all); n++ {
			status, headLen, bodyLen, err = parseResponseHead(all[:n])
			if err == nil && n >= headLen+bodyLen {
				break
			}
			if err != nil && err != errIncompleteHead {
				t.Fatalf("response %d after %d bytes: %v", i, n, err)
			}
		}
		if n > len(all) || status != 200+i || string(all[headLen:headLen+bodyLen]) != want || n != headLen+bodyLen {
			t.Fatalf("response %d: status %d, body %.40q after %d bytes", i, status, all[headLen:headLen+bodyLen], n)
		}
		all = all[n:]
	}
	if len(all) != 0 {
		t.Fatalf("%d bytes left", len(all))
	}
}

// FuzzParseResponseHead: the generator reads what a server sends. It must
// never panic, and what it accepts net/http must read the same way.
func FuzzParseResponseHead(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{\"cdp_id\":1}",
		"HTTP/1.1 401 Unauthorized\r\nContent-Length: 3\r\n\r\nno\n",
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		status, headLen, bodyLen, err := parseResponseHead(b)
		if err != nil {
			return
		}
		if status < 200 || status > 999 || headLen < 4 || headLen > len(b) || bodyLen < 0 ||
			!bytes.HasSuffix(b[:headLen], []byte("\r\n\r\n")) {
			t.Fatalf("accepted %q: status %d, head %d, body %d", b, status, headLen, bodyLen)
		}
		if headLen+bodyLen > len(b) {
			return
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), nil)
		if err != nil {
			return // net/http is stricter in places (header values, names)
		}
		defer resp.Body.Close()
		if resp.StatusCode != status {
			t.Fatalf("%q: status %d, net/http %d", b, status, resp.StatusCode)
		}
		if status != 204 && status != 304 && resp.ContentLength != int64(bodyLen) {
			t.Fatalf("%q: body %d bytes, net/http %d", b, bodyLen, resp.ContentLength)
		}
	})
}
