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
