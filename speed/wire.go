package speed

import (
	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/internal/jsonx"
)

// The collector writes every event with cdp.Event.AppendJSON: compact, keys
// in a fixed order, optional keys left out. decodeCanonical reads exactly
// that shape without allocating, about ten times faster than a general
// decoder; anything else (other key order, whitespace between the top-level
// keys, escapes or non-ASCII in the strings it decodes, null values) makes
// it report false, and the caller decodes with the general decoder, which
// gives the same result (FuzzDecodeCanonical).

// decodeCanonical decodes b into w when b is in AppendJSON's form
// (cdp.ScanCanonical). The strings and raw fields of w alias b. Keys the
// speed layer does not read are only checked to hold valid JSON.
func decodeCanonical(b []byte, w *wireEvent) bool {
	return cdp.ScanCanonical(b, func(f cdp.CanonicalField, i int) (end int, ok bool) {
		var s *string
		switch f {
		case cdp.FieldWorkspace:
			s = &w.Workspace
		case cdp.FieldMessageID:
			s = &w.MessageID
		case cdp.FieldType:
			s = (*string)(&w.Type)
		case cdp.FieldEvent:
			s = &w.Event
		case cdp.FieldName:
			s = &w.Name
		case cdp.FieldUserID:
			s = &w.UserID
		case cdp.FieldAnonymousID:
			s = &w.AnonymousID
		case cdp.FieldPreviousID:
			s = &w.PreviousID
		case cdp.FieldGroupID:
			s = &w.GroupID
		case cdp.FieldTimestamp, cdp.FieldReceivedAt:
			t := &w.Timestamp
			if f == cdp.FieldReceivedAt {
				t = &w.ReceivedAt
			}
			*t, end, ok = cdp.JSONTime(b, i)
			return end, ok
		case cdp.FieldProperties, cdp.FieldTraits:
			var raw []byte
			if raw, end, ok = cdp.RawObject(b, i); ok {
				if f == cdp.FieldProperties {
					w.Properties = raw
				} else {
					w.Traits = raw
				}
			}
			return end, ok
		default:
			return jsonx.End(b, i)
		}
		*s, end, ok = cdp.PlainString(b, i)
		return end, ok
	})
}

// objectFields calls fn with each key and raw value of the object raw
// when its keys are plain (see cdp.PlainString); it reports false, having
// called fn for some keys perhaps, for anything else.
func objectFields(raw []byte, fn func(key string, value []byte) bool) bool {
	i, more, ok := openContainer(raw, '{', '}')
	for ; more; i, more, ok = nextMember(raw, i, '}') {
		key, end, ok := cdp.PlainString(raw, i)
		if !ok {
			return false
		}
		i = jsonx.Space(raw, end)
		if i >= len(raw) || raw[i] != ':' {
			return false
		}
		start := jsonx.Space(raw, i+1)
		if i, ok = jsonx.End(raw, start); !ok || !fn(key, raw[start:i]) {
			return false
		}
	}
	return ok
}

// arrayElems calls fn with each raw element of the JSON array raw; it
// reports false, having called fn for some elements perhaps, when raw is
// not an array or fn returns false.
func arrayElems(raw []byte, fn func(v []byte) bool) bool {
	i, more, ok := openContainer(raw, '[', ']')
	for ; more; i, more, ok = nextMember(raw, i, ']') {
		end, ok := jsonx.End(raw, i)
		if !ok || !fn(raw[i:end]) {
			return false
		}
		i = end
	}
	return ok
}

// openContainer reads the opening bracket of the container raw: more
// when a member starts at i, ok when raw is so far the container (an
// empty one must end raw).
func openContainer(raw []byte, opening, closing byte) (i int, more, ok bool) {
	i = jsonx.Space(raw, 0)
	if i >= len(raw) || raw[i] != opening {
		return i, false, false
	}
	i = jsonx.Space(raw, i+1)
	if i < len(raw) && raw[i] == closing {
		return i, false, jsonx.Space(raw, i+1) == len(raw) // JSON whitespace only (bytes.TrimSpace also takes \f, \v, U+0085)
	}
	return i, true, true
}

// nextMember reads what follows a member ending at end: a comma (more,
// and the next member starts at i) or the closing bracket, which must
// end raw.
func nextMember(raw []byte, end int, closing byte) (i int, more, ok bool) {
	i = jsonx.Space(raw, end)
	if i >= len(raw) {
		return i, false, false
	}
	switch raw[i] {
	case ',':
		return jsonx.Space(raw, i+1), true, true
	case closing:
		return i, false, jsonx.Space(raw, i+1) == len(raw)
	}
	return i, false, false
}
