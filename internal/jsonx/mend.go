package jsonx

import (
	"bytes"
	"unicode/utf8"
)

// Mend returns the JSON text b with what Go's decoders read as U+FFFD
// written as one: each byte of invalid UTF-8, and each escaped UTF-16
// surrogate outside a pair ("\ud83d" of an emoji cut short, which
// JavaScript's JSON.stringify writes). DuckDB refuses either in a whole
// document (one such trait stopped the batch jobs), so the collector mends
// what it passes on, and both layers read the same text. It returns b
// itself when there is nothing to mend, the usual case: one pass for
// UTF-8, one for a backslash.
func Mend(b []byte) []byte {
	own := false // b is a copy, to mend in place
	if !utf8.Valid(b) {
		out := make([]byte, 0, len(b)+8)
		for i := 0; i < len(b); {
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				out = append(out, "\uFFFD"...)
			} else {
				out = append(out, b[i:i+n]...)
			}
			i += n
		}
		b, own = out, true
	}
	for i := bytes.IndexByte(b, '\\'); i >= 0; {
		n := 2 // the escape's length
		if r := hex4(b, i+1); r >= 0xd800 && r <= 0xdfff {
			n = 6
			if r <= 0xdbff && i+7 < len(b) && b[i+6] == '\\' && hex4(b, i+7) >= 0xdc00 && hex4(b, i+7) <= 0xdfff {
				n = 12 // a pair
			} else {
				if !own {
					b, own = bytes.Clone(b), true
				}
				copy(b[i+2:], "fffd")
			}
		}
		if i+n >= len(b) {
			break
		}
		j := bytes.IndexByte(b[i+n:], '\\')
		if j < 0 {
			break
		}
		i += n + j
	}
	return b
}

// hex4 reads the escape \uXXXX as a number, or -1 when b has none at i
// (the 'u').
func hex4(b []byte, i int) int {
	if len(b)-i < 5 || b[i] != 'u' {
		return -1
	}
	r := 0
	for _, c := range b[i+1 : i+5] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | int(c)
	}
	return r
}
