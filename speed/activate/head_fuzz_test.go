package activate

import (
	"bufio"
	"bytes"
	"net/http"
	"net/url"
	"testing"
)

// FuzzParseHead: whatever head parseHead accepts, net/http's ReadRequest
// accepts and reads alike (method, target, Authorization, Content-Length,
// whether to close), except a target net/http's URL parser refuses,
// which Serve answers 400 itself. The whole head is always consumed.
func FuzzParseHead(f *testing.F) {
	for _, s := range []string{
		"GET /v1/profiles/user_id:u1 HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer k\r\n\r\n",
		"GET /v1/profiles/user_id:u1?include=events HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"HEAD /v1/profiles/user_id:%zz HTTP/1.1\r\nHost: x:80\r\nConnection: Upgrade, close\r\n\r\nGET / HTTP/1.1\r\n",
		"POST /v1/profiles/x HTTP/1.1\r\nHost: [::1]:8080\r\nContent-Length: 3\r\nauthorization:  Bearer a \r\nAuthorization: Bearer b\r\n\r\nabc",
		"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
		"GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\nHost: x\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := parseHead(b)
		if err == errHeadIncomplete {
			if bytes.Contains(b, []byte("\r\n\r\n")) {
				t.Fatalf("%q: a whole head reported incomplete", b)
			}
			return
		}
		if n != bytes.Index(b, []byte("\r\n\r\n"))+4 {
			t.Fatalf("%q: head length %d", b, n)
		}
		if err != nil {
			return
		}
		req, rerr := http.ReadRequest(bufio.NewReader(bytes.NewReader(b[:n])))
		if rerr != nil {
			if _, uerr := url.ParseRequestURI(h.target); uerr == nil {
				t.Fatalf("%q: parseHead accepted %+v, net/http refused: %v", b, h, rerr)
			}
			return
		}
		if req.Method != h.method || req.RequestURI != h.target || req.Header.Get("Authorization") != h.authorization ||
			req.ContentLength != int64(h.contentLength) || req.Close != h.close {
			t.Fatalf("%q: parseHead %+v, net/http %s %s auth %q length %d close %v", b, h,
				req.Method, req.RequestURI, req.Header.Get("Authorization"), req.ContentLength, req.Close)
		}
	})
}
