package speed

import (
	"time"

	"github.com/tributary-cdp/tributary/internal/jsonx"
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
				if end, ok = jsonx.End(b, i); ok {
					*raw = b[i:end:end]
				}
			}
		} else {
			end, ok = jsonx.End(b, i)
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

// objectFields calls fn with each key and raw value of the object raw
// when its keys are plain (see plainString); it reports false, having
// called fn for some keys perhaps, for anything else.
func objectFields(raw []byte, fn func(key string, value []byte) bool) bool {
	i := jsonx.Space(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	i = jsonx.Space(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return jsonx.Space(raw, i+1) == len(raw) // JSON whitespace only (bytes.TrimSpace also takes \f, \v, U+0085)
	}
	for {
		key, end, ok := plainString(raw, i)
		if !ok {
			return false
		}
		i = jsonx.Space(raw, end)
		if i >= len(raw) || raw[i] != ':' {
			return false
		}
		start := jsonx.Space(raw, i+1)
		if end, ok = jsonx.End(raw, start); !ok || !fn(key, raw[start:end]) {
			return false
		}
		i = jsonx.Space(raw, end)
		if i >= len(raw) {
			return false
		}
		switch raw[i] {
		case ',':
			i = jsonx.Space(raw, i+1)
		case '}':
			return jsonx.Space(raw, i+1) == len(raw)
		default:
			return false
		}
	}
}
