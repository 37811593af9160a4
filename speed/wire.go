package speed

import (
	"bytes"
	"time"
)

// The collector writes every event with cdp.Event.AppendJSON: compact, keys
// in a fixed order, optional keys left out. decodeCanonical reads exactly
// that shape without allocating, about ten times faster than a general
// decoder; anything else (other key order, whitespace between the top-level
// keys, escapes or non-ASCII in the strings it decodes, null values) makes
// it report false, and the caller decodes with the general decoder, which
// gives the same result (FuzzDecodeCanonical).

// canonicalKey is one top-level key of AppendJSON's output, in its order.
type canonicalKey struct {
	key      string // with its quotes and the colon: `"workspace":`
	required bool
	field    wireField // where the value goes
}

// wireField names a field of wireEvent (a switch, not a func per key: w
// then stays on the caller's stack).
type wireField uint8

const (
	fieldNone wireField = iota // not read by the speed layer: only checked to be valid JSON
	fieldWorkspace
	fieldMessageID
	fieldType
	fieldEvent
	fieldName
	fieldUserID
	fieldAnonymousID
	fieldPreviousID
	fieldGroupID
	fieldTimestamp
	fieldReceivedAt
	fieldProperties
	fieldTraits
)

var canonicalKeys = [...]canonicalKey{
	{`"workspace":`, true, fieldWorkspace},
	{`"messageId":`, true, fieldMessageID},
	{`"type":`, true, fieldType},
	{`"event":`, false, fieldEvent},
	{`"name":`, false, fieldName},
	{`"category":`, false, fieldNone},
	{`"userId":`, false, fieldUserID},
	{`"anonymousId":`, false, fieldAnonymousID},
	{`"previousId":`, false, fieldPreviousID},
	{`"groupId":`, false, fieldGroupID},
	{`"timestamp":`, true, fieldTimestamp},
	{`"originalTimestamp":`, false, fieldNone},
	{`"sentAt":`, false, fieldNone},
	{`"receivedAt":`, true, fieldReceivedAt},
	{`"properties":`, false, fieldProperties},
	{`"traits":`, false, fieldTraits},
	{`"context":`, false, fieldNone},
	{`"integrations":`, false, fieldNone},
}

// str, tm and raw return the field f of w, nil when f is not of that kind.
func (w *wireEvent) str(f wireField) *string {
	switch f {
	case fieldWorkspace:
		return &w.Workspace
	case fieldMessageID:
		return &w.MessageID
	case fieldType:
		return (*string)(&w.Type)
	case fieldEvent:
		return &w.Event
	case fieldName:
		return &w.Name
	case fieldUserID:
		return &w.UserID
	case fieldAnonymousID:
		return &w.AnonymousID
	case fieldPreviousID:
		return &w.PreviousID
	case fieldGroupID:
		return &w.GroupID
	}
	return nil
}

func (w *wireEvent) tm(f wireField) *time.Time {
	switch f {
	case fieldTimestamp:
		return &w.Timestamp
	case fieldReceivedAt:
		return &w.ReceivedAt
	}
	return nil
}

func (w *wireEvent) raw(f wireField) *rawJSON {
	switch f {
	case fieldProperties:
		return &w.Properties
	case fieldTraits:
		return &w.Traits
	}
	return nil
}

// decodeCanonical decodes b into w when b is in AppendJSON's form. The
// strings and raw fields of w alias b.
func decodeCanonical(b []byte, w *wireEvent) bool {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return false
	}
	i, k := 1, 0
	for {
		// Find the key at i among the ones that may come next.
		for k < len(canonicalKeys) && !hasPrefixAt(b, i, canonicalKeys[k].key) {
			if canonicalKeys[k].required {
				return false
			}
			k++
		}
		if k == len(canonicalKeys) {
			return false
		}
		ck := &canonicalKeys[k]
		i += len(ck.key)
		var end int
		var ok bool
		if str, tm, raw := w.str(ck.field), w.tm(ck.field), w.raw(ck.field); str != nil {
			*str, end, ok = plainString(b, i)
		} else if tm != nil {
			if _, end, ok = plainString(b, i); ok {
				ok = tm.UnmarshalJSON(b[i:end]) == nil
			}
		} else if raw != nil {
			if i < len(b) && b[i] == '{' {
				if end, ok = skipValue(b, i, 0); ok {
					*raw = b[i:end:end]
				}
			}
		} else {
			end, ok = skipValue(b, i, 0)
		}
		if !ok || end >= len(b) {
			return false
		}
		k++
		switch b[end] {
		case ',':
			i = end + 1
		case '}':
			for _, rest := range canonicalKeys[k:] {
				if rest.required {
					return false
				}
			}
			return end == len(b)-1
		default:
			return false
		}
	}
}

func hasPrefixAt(b []byte, i int, prefix string) bool {
	return len(b)-i >= len(prefix) && string(b[i:i+len(prefix)]) == prefix
}

// plainString reads the JSON string at i when it has no escapes and only
// printable ASCII, returning it (aliasing b) and the index after it.
func plainString(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return rawString(b[i+1 : j]), j + 1, true
		case c < 0x20 || c == '\\' || c >= 0x80:
			return "", 0, false
		}
	}
	return "", 0, false
}

// maxDepth bounds the nesting skipValue follows; deeper values go to the
// general decoder.
const maxDepth = 64

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue checks the JSON value at i (RFC 8259; whitespace inside
// containers allowed) and returns the index after it.
func skipValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) || depth > maxDepth {
		return 0, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{':
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == '}' {
			return i + 1, true
		}
		for {
			end, ok := skipString(b, i)
			if !ok {
				return 0, false
			}
			i = skipSpace(b, end)
			if i >= len(b) || b[i] != ':' {
				return 0, false
			}
			if i, ok = skipValue(b, skipSpace(b, i+1), depth+1); !ok {
				return 0, false
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return 0, false
			}
			switch b[i] {
			case ',':
				i = skipSpace(b, i+1)
			case '}':
				return i + 1, true
			default:
				return 0, false
			}
		}
	case '[':
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, true
		}
		for {
			var ok bool
			if i, ok = skipValue(b, i, depth+1); !ok {
				return 0, false
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return 0, false
			}
			switch b[i] {
			case ',':
				i = skipSpace(b, i+1)
			case ']':
				return i + 1, true
			default:
				return 0, false
			}
		}
	case 't':
		return skipLiteral(b, i, "true")
	case 'f':
		return skipLiteral(b, i, "false")
	case 'n':
		return skipLiteral(b, i, "null")
	}
	return skipNumber(b, i)
}

func skipLiteral(b []byte, i int, lit string) (int, bool) {
	if !hasPrefixAt(b, i, lit) {
		return 0, false
	}
	return i + len(lit), true
}

func skipString(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	for j := i + 1; j < len(b); j++ {
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
				if len(b)-j < 5 {
					return 0, false
				}
				for _, h := range b[j+1 : j+5] {
					if !isHex(h) {
						return 0, false
					}
				}
				j += 4
			default:
				return 0, false
			}
		}
	}
	return 0, false
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// skipNumber checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func skipNumber(b []byte, i int) (int, bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return 0, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return 0, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i, true
}

// objectFields calls fn with each key and raw value of the object raw
// when its keys are plain (see plainString); it reports false, having
// called fn for some keys perhaps, for anything else.
func objectFields(raw []byte, fn func(key string, value []byte) bool) bool {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return len(bytes.TrimSpace(raw[i+1:])) == 0
	}
	for {
		key, end, ok := plainString(raw, i)
		if !ok {
			return false
		}
		i = skipSpace(raw, end)
		if i >= len(raw) || raw[i] != ':' {
			return false
		}
		start := skipSpace(raw, i+1)
		if end, ok = skipValue(raw, start, 0); !ok || !fn(key, raw[start:end]) {
			return false
		}
		i = skipSpace(raw, end)
		if i >= len(raw) {
			return false
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
		case '}':
			return len(bytes.TrimSpace(raw[i+1:])) == 0
		default:
			return false
		}
	}
}
