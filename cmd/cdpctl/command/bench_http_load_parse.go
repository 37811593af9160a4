package command

import (
	"bytes"
	"errors"
	"fmt"
)

// maxResponseHead bounds the head (status line and headers) of a response
// the load generator reads.
const maxResponseHead = 8 << 10

// errIncompleteHead says the bytes read so far do not hold a whole
// response head yet: read more.
var errIncompleteHead = errors.New("incomplete response head")

// parseResponseHead parses the head of one HTTP/1.1 response at the start
// of b: the status line and the headers up to the empty line. It returns
// the status code, the head's length and the body's length (from
// Content-Length); the body is b[headLen:headLen+bodyLen] once that many
// bytes are in. The load generator reads keep-alive responses to GETs, so
// a response must say its length: chunked bodies and bodies delimited by
// the connection's close are errors, as are 1xx answers.
func parseResponseHead(b []byte) (status, headLen, bodyLen int, err error) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) > maxResponseHead {
			return 0, 0, 0, fmt.Errorf("response head longer than %d bytes", maxResponseHead)
		}
		return 0, 0, 0, errIncompleteHead
	}
	if end+4 > maxResponseHead {
		return 0, 0, 0, fmt.Errorf("response head of %d bytes, more than %d", end+4, maxResponseHead)
	}
	head := b[:end+2] // each line with its CRLF
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	if status, err = parseStatusLine(line); err != nil {
		return 0, 0, 0, err
	}
	bodyLen = -1
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(name) == 0 || bytes.ContainsAny(name, " \t") {
			return 0, 0, 0, fmt.Errorf("malformed response header %.80q", line)
		}
		value = bytes.Trim(value, " \t")
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, ok := parseContentLength(value)
			if !ok || bodyLen >= 0 && n != bodyLen {
				return 0, 0, 0, fmt.Errorf("bad Content-Length %.40q", value)
			}
			bodyLen = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return 0, 0, 0, fmt.Errorf("Transfer-Encoding %.40q: only Content-Length bodies are read", value)
		}
	}
	switch {
	case status < 200:
		return 0, 0, 0, fmt.Errorf("interim response %d: not expected", status)
	case status == 204 || status == 304:
		bodyLen = 0 // never a body (RFC 9112 6.3)
	case bodyLen < 0:
		return 0, 0, 0, fmt.Errorf("response %d without Content-Length", status)
	}
	return status, end + 4, bodyLen, nil
}

// parseStatusLine reads "HTTP/1.x DDD[ reason]".
func parseStatusLine(line []byte) (int, error) {
	if len(line) < len("HTTP/1.x DDD") || !bytes.HasPrefix(line, []byte("HTTP/1.")) ||
		line[7] != '0' && line[7] != '1' || line[8] != ' ' || len(line) > 12 && line[12] != ' ' {
		return 0, fmt.Errorf("malformed status line %.80q", line)
	}
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("malformed status line %.80q", line)
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return 0, fmt.Errorf("malformed status line %.80q", line)
	}
	return code, nil
}

// parseContentLength reads a decimal length of at most 1 GiB.
func parseContentLength(v []byte) (int, bool) {
	if len(v) == 0 || len(v) > 10 {
		return 0, false
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= 1<<30
}
