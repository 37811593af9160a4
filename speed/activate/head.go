package activate

import (
	"bytes"
	"errors"
	"strings"
)

// requestHead is what the look-up loop reads of an HTTP/1.x request head.
// The strings are views of the connection's read buffer: valid until the
// request is answered.
type requestHead struct {
	method, target, authorization string
	contentLength                 int
	// close: the client asked for the connection to be closed after the
	// answer (Connection: close, or HTTP/1.0 without keep-alive).
	close bool
}

var (
	errHeadIncomplete = errors.New("incomplete request head")
	errHeadMalformed  = errors.New("malformed request head")
	// errChunked: a look-up has no body; a chunked one is refused rather
	// than decoded.
	errChunked = errors.New("Transfer-Encoding is not supported")
)

// parseHead parses the request head at the start of b and returns it with
// its length. It returns errHeadIncomplete while b holds no whole head.
// It accepts a strict subset of what net/http's ReadRequest accepts, read
// as ReadRequest reads it (FuzzParseHead holds it to that): CRLF line
// ends, an origin-form target (or an http absolute-form one), no line
// folding, at most one Content-Length, and for HTTP/1.1 exactly one Host.
// What it refuses is answered 400 and the connection closed.
func parseHead(b []byte) (h requestHead, n int, err error) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		return h, 0, errHeadIncomplete
	}
	n = end + 4
	line, rest, _ := strings.Cut(view(b[:end+2]), "\r\n")
	method, line, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(line, " ")
	if !ok1 || !ok2 || !isToken(method) || !validTarget(target) {
		return h, n, errHeadMalformed
	}
	h.method, h.target = method, target
	switch proto {
	case "HTTP/1.1":
	case "HTTP/1.0":
		h.close = true
	default:
		return h, n, errHeadMalformed
	}
	hosts, lengths, auths := 0, 0, 0
	for rest != "" {
		var hl string
		hl, rest, _ = strings.Cut(rest, "\r\n")
		name, value, ok := strings.Cut(hl, ":")
		if !ok || !isToken(name) || !validValue(value) {
			return h, n, errHeadMalformed
		}
		value = strings.Trim(value, " \t")
		switch {
		case strings.EqualFold(name, "Host"):
			hosts++
			if !validHost(value) {
				return h, n, errHeadMalformed
			}
		case strings.EqualFold(name, "Authorization"):
			if auths++; auths == 1 { // Header.Get's: the first
				h.authorization = value
			}
		case strings.EqualFold(name, "Content-Length"):
			lengths++
			if h.contentLength, ok = parseLength(value); !ok {
				return h, n, errHeadMalformed
			}
		case strings.EqualFold(name, "Transfer-Encoding"):
			return h, n, errChunked
		case strings.EqualFold(name, "Connection"):
			for tok := range strings.SplitSeq(value, ",") {
				switch tok = strings.Trim(tok, " \t"); {
				case strings.EqualFold(tok, "close"):
					h.close = true
				case strings.EqualFold(tok, "keep-alive") && proto == "HTTP/1.0":
					h.close = false
				}
			}
		}
	}
	if lengths > 1 || proto == "HTTP/1.1" && hosts != 1 || hosts > 1 {
		return h, n, errHeadMalformed
	}
	return h, n, nil
}

// isToken: RFC 9110's token, what a method and a header name are made of.
func isToken(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}

// validTarget: an origin-form request-target of visible ASCII, or an
// absolute-form one of http or https (RFC 9112 §3.2.2: a server must
// accept it; Serve reads its path).
func validTarget(s string) bool {
	if s == "" || s[0] != '/' && !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
		return false
	}
	for i := range len(s) {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// validValue: a field value without control characters other than tab.
func validValue(s string) bool {
	for i := range len(s) {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// validHost: a host[:port] of names and IP literals.
func validHost(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".-_:[]", c) >= 0) {
			return false
		}
	}
	return true
}

// parseLength reads a Content-Length of at most 9 digits: more is far
// beyond what the loop reads anyway.
func parseLength(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}
