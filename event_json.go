package cdp

import (
	"bytes"
	"encoding/json"
	"time"
	"unicode/utf8"
)

// AppendJSON appends the canonical JSON of e to dst. It produces what
// json.Marshal(e) produces, without reflection: the collector encodes every
// event with it. Raw JSON fields are copied as they are (compacted only when
// they span lines, so each Kafka value stays on one line).
func (e *Event) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"workspace":`...)
	dst = appendString(dst, e.Workspace)
	dst = append(dst, `,"messageId":`...)
	dst = appendString(dst, e.MessageID)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, string(e.Type))
	dst = appendOptString(dst, `,"event":`, e.Event)
	dst = appendOptString(dst, `,"name":`, e.Name)
	dst = appendOptString(dst, `,"category":`, e.Category)
	dst = appendOptString(dst, `,"userId":`, e.UserID)
	dst = appendOptString(dst, `,"anonymousId":`, e.AnonymousID)
	dst = appendOptString(dst, `,"previousId":`, e.PreviousID)
	dst = appendOptString(dst, `,"groupId":`, e.GroupID)
	dst = append(dst, `,"timestamp":`...)
	dst = appendTime(dst, e.Timestamp)
	if e.OriginalTimestamp != nil {
		dst = append(dst, `,"originalTimestamp":`...)
		dst = appendTime(dst, *e.OriginalTimestamp)
	}
	if e.SentAt != nil {
		dst = append(dst, `,"sentAt":`...)
		dst = appendTime(dst, *e.SentAt)
	}
	dst = append(dst, `,"receivedAt":`...)
	dst = appendTime(dst, e.ReceivedAt)
	dst = appendRaw(dst, `,"properties":`, e.Properties)
	dst = appendRaw(dst, `,"traits":`, e.Traits)
	dst = appendRaw(dst, `,"context":`, e.Context)
	dst = appendRaw(dst, `,"integrations":`, e.Integrations)
	return append(dst, '}')
}

func appendOptString(dst []byte, key, s string) []byte {
	if s == "" {
		return dst
	}
	return appendString(append(dst, key...), s)
}

func appendTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

func appendRaw(dst []byte, key string, raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return dst
	}
	dst = append(dst, key...)
	if bytes.IndexByte(raw, '\n') < 0 && bytes.IndexByte(raw, '\r') < 0 {
		return append(dst, raw...)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return append(dst, raw...)
	}
	return append(dst, buf.Bytes()...)
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string, escaping as encoding/json
// does (including <, >, & and U+2028/U+2029) and replacing invalid UTF-8.
// Every hand-written JSON encoder of the project uses it.
func AppendJSONString(dst []byte, s string) []byte { return appendString(dst, s) }

func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
