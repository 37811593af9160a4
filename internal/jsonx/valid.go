// Package jsonx checks JSON before it reaches goccy/go-json, which can read
// past its buffer on some malformed input (FuzzDecodeCanonical found
// `{"":"","":"","":"e29","tim\`): a read past the end may panic or may
// return garbage, so recovering from a panic is not enough and the input
// must be proven well-formed first. Check is that proof, at about three
// times the speed of encoding/json.Valid.
package jsonx

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"
)

// Check returns nil when b is one well-formed JSON value (RFC 8259,
// surrounding whitespace allowed) and otherwise an error that says what
// is wrong and at which byte.
func Check(b []byte) error {
	if end, ok := value(b, space(b, 0), 0); ok && space(b, end) == len(b) {
		return nil
	}
	// Malformed, or nested deeper than maxDepth: encoding/json decides
	// and says where.
	if json.Valid(b) {
		return nil
	}
	var r json.RawMessage
	err := json.Unmarshal(b, &r)
	if se, ok := err.(*json.SyntaxError); ok {
		return fmt.Errorf("%w (at byte %d)", se, se.Offset)
	}
	if err == nil { // cannot happen: Valid and Unmarshal share a scanner
		err = fmt.Errorf("invalid JSON")
	}
	return err
}

// End returns the index after the well-formed JSON value at i and true,
// or false when there is none there (or it nests deeper than maxDepth).
// Parsers use it to check a value as they cut it out.
func End(b []byte, i int) (int, bool) { return value(b, i, 0) }

// Space returns the index of the first byte at or after i that is not
// JSON whitespace.
func Space(b []byte, i int) int { return space(b, i) }

// maxDepth bounds the recursion of the fast path; deeper input goes to
// encoding/json.
const maxDepth = 64

func space(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// value checks the JSON value at i and returns the index after it.
func value(b []byte, i, depth int) (int, bool) {
	if i >= len(b) || depth > maxDepth {
		return 0, false
	}
	switch b[i] {
	case '"':
		return str(b, i)
	case '{':
		i = space(b, i+1)
		if i < len(b) && b[i] == '}' {
			return i + 1, true
		}
		for {
			end, ok := str(b, i)
			if !ok {
				return 0, false
			}
			i = space(b, end)
			if i >= len(b) || b[i] != ':' {
				return 0, false
			}
			if i, ok = value(b, space(b, i+1), depth+1); !ok {
				return 0, false
			}
			i = space(b, i)
			if i >= len(b) {
				return 0, false
			}
			switch b[i] {
			case ',':
				i = space(b, i+1)
			case '}':
				return i + 1, true
			default:
				return 0, false
			}
		}
	case '[':
		i = space(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, true
		}
		for {
			var ok bool
			if i, ok = value(b, i, depth+1); !ok {
				return 0, false
			}
			i = space(b, i)
			if i >= len(b) {
				return 0, false
			}
			switch b[i] {
			case ',':
				i = space(b, i+1)
			case ']':
				return i + 1, true
			default:
				return 0, false
			}
		}
	case 't':
		return literal(b, i, "true")
	case 'f':
		return literal(b, i, "false")
	case 'n':
		return literal(b, i, "null")
	}
	return number(b, i)
}

func literal(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

// Plain returns the index of the first byte at or after i that a string
// scanner must look at: a quote, a backslash, a control character or,
// when ascii, a byte past ASCII. It reads eight bytes at a time and may
// stop within the last seven, which the caller reads one by one.
func Plain(b []byte, i int, ascii bool) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; len(b)-i >= 8; i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		// A byte's high bit is set where it is below the one sought (a
		// subtraction borrows), or past ASCII; only the lowest set bit is
		// exact, a byte above it may be marked by a borrow.
		q, bs := x^(ones*'"'), x^(ones*'\\')
		m := (q-ones)&^q | (bs-ones)&^bs | (x-ones*0x20)&^x
		if ascii {
			m |= x
		}
		if m &= highs; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	return i
}

func str(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	for j := Plain(b, i+1, false); j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1, true
		case c < 0x20:
			return 0, false
		case c == '\\':
			j++
			if j >= len(b) {
				return 0, false
			}
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-j < 5 || !hex(b[j+1]) || !hex(b[j+2]) || !hex(b[j+3]) || !hex(b[j+4]) {
					return 0, false
				}
				j += 4
			default:
				return 0, false
			}
			j = Plain(b, j+1, false) - 1
		}
	}
	return 0, false
}

func hex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func digit(c byte) bool { return c >= '0' && c <= '9' }

// number checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func number(b []byte, i int) (int, bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && digit(b[i]) {
			i++
		}
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !digit(b[i]) {
			return 0, false
		}
		for i < len(b) && digit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !digit(b[i]) {
			return 0, false
		}
		for i < len(b) && digit(b[i]) {
			i++
		}
	}
	return i, true
}
