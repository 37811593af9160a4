package land

import (
	"errors"
	"time"
	"unsafe"

	json "github.com/goccy/go-json"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/internal/jsonx"
	"github.com/tributary-cdp/tributary/lake"
)

// decode turns a Kafka message value into its raw/events row, or says why
// it is not a valid event. Its JSON fields are mended (jsonx.Mend) as the
// collector mends them: a producer that bypasses the collector may write
// bytes that are not UTF-8 or a lone surrogate, which DuckDB refuses in
// a whole file, so one such event would stop cleanse for every event. Almost every message is in the collector's
// form (cdp.Event.AppendJSON) and valid: decodeCanonical reads those
// without goccy/go-json, several times faster, and anything else takes
// the general path (jsonx.Check, goccy, Validate), which gives the same
// row (FuzzDecode) and the reason a message is refused.
func decode(b []byte, partition int32, offset int64) (lake.EventRow, error) {
	var r lake.EventRow
	if decodeCanonical(b, &r) {
		r.KafkaPartition, r.KafkaOffset = partition, offset
		return r, nil
	}
	return decodeGeneral(b, partition, offset)
}

// decodeGeneral is the path of any message: a copy of every field.
func decodeGeneral(b []byte, partition int32, offset int64) (lake.EventRow, error) {
	var e cdp.Event
	// goccy can read past the end of malformed JSON (jsonx): such a
	// message is rejected like any other bad one, before goccy sees it.
	err := jsonx.Check(b)
	if err == nil {
		err = json.Unmarshal(b, &e)
	}
	if err == nil {
		err = e.Validate()
	}
	if err == nil && e.Workspace == "" {
		err = errors.New("workspace is empty")
	}
	if err != nil {
		return lake.EventRow{}, err
	}
	for _, raw := range []*json.RawMessage{&e.Properties, &e.Traits, &e.Context, &e.Integrations} {
		*raw = jsonx.Mend(*raw)
	}
	return lake.NewEventRow(&e, partition, offset), nil
}

// decodeCanonical fills r (all but the Kafka fields) when b is a valid
// event in AppendJSON's form (cdp.ScanCanonical): strings without escapes
// or non-ASCII, timestamps as strings, raw fields as objects, a non-empty
// workspace and Validate content. Its strings alias b: b is a Kafka
// message value, which nothing writes to after it is read. It reports
// false for anything else, having perhaps filled part of r.
func decodeCanonical(b []byte, r *lake.EventRow) bool {
	var orig, sent time.Time
	hasOrig, hasSent := false, false
	ok := cdp.ScanCanonical(b, func(f cdp.CanonicalField, i int) (end int, ok bool) {
		var s *string
		var t *time.Time
		var raw *string
		switch f {
		case cdp.FieldWorkspace:
			s = &r.Workspace
		case cdp.FieldMessageID:
			s = &r.MessageID
		case cdp.FieldType:
			s = &r.Type
		case cdp.FieldEvent:
			s = &r.Event
		case cdp.FieldName:
			s = &r.Name
		case cdp.FieldCategory:
			s = &r.Category
		case cdp.FieldUserID:
			s = &r.UserID
		case cdp.FieldAnonymousID:
			s = &r.AnonymousID
		case cdp.FieldPreviousID:
			s = &r.PreviousID
		case cdp.FieldGroupID:
			s = &r.GroupID
		case cdp.FieldTimestamp:
			t = &r.Timestamp
		case cdp.FieldOriginalTimestamp:
			t, hasOrig = &orig, true
		case cdp.FieldSentAt:
			t, hasSent = &sent, true
		case cdp.FieldReceivedAt:
			t = &r.ReceivedAt
		case cdp.FieldProperties:
			raw = &r.Properties
		case cdp.FieldTraits:
			raw = &r.Traits
		case cdp.FieldContext:
			raw = &r.Context
		case cdp.FieldIntegrations:
			raw = &r.Integrations
		default:
			return 0, false
		}
		switch {
		case s != nil:
			*s, end, ok = cdp.PlainString(b, i)
		case t != nil:
			// As time.Time's UnmarshalJSON reads it (which is what goccy calls).
			*t, end, ok = cdp.JSONTime(b, i)
		default:
			var obj []byte
			if obj, end, ok = cdp.RawObject(b, i); ok {
				obj = jsonx.Mend(obj)
				*raw = unsafe.String(&obj[0], len(obj))
			}
		}
		return end, ok
	})
	if !ok || r.Workspace == "" {
		return false
	}
	e := cdp.Event{MessageID: r.MessageID, Type: cdp.EventType(r.Type), Event: r.Event, UserID: r.UserID,
		AnonymousID: r.AnonymousID, PreviousID: r.PreviousID, GroupID: r.GroupID}
	if e.Validate() != nil {
		return false // the general path says why
	}
	// As lake.NewEventRow.
	r.Timestamp, r.ReceivedAt = r.Timestamp.UTC(), r.ReceivedAt.UTC()
	if hasOrig {
		u := orig.UTC()
		r.OriginalTimestamp = &u
	}
	if hasSent {
		u := sent.UTC()
		r.SentAt = &u
	}
	return true
}
