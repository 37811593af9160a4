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
// it is not a valid event. Almost every message is in the collector's
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
	return lake.NewEventRow(&e, partition, offset), nil
}

// canonicalKeys are the top-level keys of AppendJSON's output, in its
// order, with their quotes and colon.
var canonicalKeys = [...]struct {
	key      string
	required bool
}{
	{`"workspace":`, true},
	{`"messageId":`, true},
	{`"type":`, true},
	{`"event":`, false},
	{`"name":`, false},
	{`"category":`, false},
	{`"userId":`, false},
	{`"anonymousId":`, false},
	{`"previousId":`, false},
	{`"groupId":`, false},
	{`"timestamp":`, true},
	{`"originalTimestamp":`, false},
	{`"sentAt":`, false},
	{`"receivedAt":`, true},
	{`"properties":`, false},
	{`"traits":`, false},
	{`"context":`, false},
	{`"integrations":`, false},
}

// decodeCanonical fills r (all but the Kafka fields) when b is a valid
// event in AppendJSON's form: compact, keys in that order, strings without
// escapes or non-ASCII, timestamps as strings, raw fields as objects, a
// non-empty workspace and Validate content. Its strings alias b. It
// reports false for anything else, having perhaps filled part of r.
func decodeCanonical(b []byte, r *lake.EventRow) bool {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return false
	}
	var orig, sent time.Time
	hasOrig, hasSent := false, false
	i, k := 1, 0
	for {
		for k < len(canonicalKeys) && !hasPrefixAt(b, i, canonicalKeys[k].key) {
			if canonicalKeys[k].required {
				return false
			}
			k++
		}
		if k == len(canonicalKeys) {
			return false
		}
		i += len(canonicalKeys[k].key)
		var end int
		var ok bool
		switch k {
		case 0:
			r.Workspace, end, ok = plainString(b, i)
		case 1:
			r.MessageID, end, ok = plainString(b, i)
		case 2:
			r.Type, end, ok = plainString(b, i)
		case 3:
			r.Event, end, ok = plainString(b, i)
		case 4:
			r.Name, end, ok = plainString(b, i)
		case 5:
			r.Category, end, ok = plainString(b, i)
		case 6:
			r.UserID, end, ok = plainString(b, i)
		case 7:
			r.AnonymousID, end, ok = plainString(b, i)
		case 8:
			r.PreviousID, end, ok = plainString(b, i)
		case 9:
			r.GroupID, end, ok = plainString(b, i)
		case 10:
			end, ok = timeAt(b, i, &r.Timestamp)
		case 11:
			end, ok = timeAt(b, i, &orig)
			hasOrig = true
		case 12:
			end, ok = timeAt(b, i, &sent)
			hasSent = true
		case 13:
			end, ok = timeAt(b, i, &r.ReceivedAt)
		case 14:
			r.Properties, end, ok = object(b, i)
		case 15:
			r.Traits, end, ok = object(b, i)
		case 16:
			r.Context, end, ok = object(b, i)
		case 17:
			r.Integrations, end, ok = object(b, i)
		}
		if !ok || end >= len(b) {
			return false
		}
		k++
		if b[end] == ',' {
			i = end + 1
			continue
		}
		if b[end] != '}' || end != len(b)-1 {
			return false
		}
		for _, rest := range canonicalKeys[k:] {
			if rest.required {
				return false
			}
		}
		break
	}
	if r.Workspace == "" {
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
			return alias(b[i+1 : j]), j + 1, true
		case c < 0x20 || c == '\\' || c >= 0x80:
			return "", 0, false
		}
	}
	return "", 0, false
}

// timeAt reads the plain JSON string at i into t as time.Time's
// UnmarshalJSON does (which is what goccy calls).
func timeAt(b []byte, i int, t *time.Time) (int, bool) {
	_, end, ok := plainString(b, i)
	if !ok || t.UnmarshalJSON(b[i:end]) != nil {
		return 0, false
	}
	return end, true
}

// object returns the well-formed JSON object at i as it is written
// (aliasing b), as json.RawMessage keeps it.
func object(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '{' {
		return "", 0, false
	}
	end, ok := jsonx.End(b, i)
	if !ok {
		return "", 0, false
	}
	return alias(b[i:end]), end, true
}

// alias is b as a string without a copy: b is a Kafka message value,
// which nothing writes to after it is read.
func alias(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
