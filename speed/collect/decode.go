package collect

import (
	"bytes"
	json "github.com/goccy/go-json"
	"reflect"
	"strings"
	"time"

	"github.com/google/uuid"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/internal/jsonx"
)

// wireEvent is a Segment call as SDKs send it. IDs may arrive as numbers.
type wireEvent struct {
	Type              string          `json:"type"`
	MessageID         json.RawMessage `json:"messageId"`
	UserID            json.RawMessage `json:"userId"`
	AnonymousID       json.RawMessage `json:"anonymousId"`
	PreviousID        json.RawMessage `json:"previousId"`
	GroupID           json.RawMessage `json:"groupId"`
	Event             string          `json:"event"`
	Name              string          `json:"name"`
	Category          string          `json:"category"`
	Timestamp         *string         `json:"timestamp"`
	OriginalTimestamp *string         `json:"originalTimestamp"`
	SentAt            *string         `json:"sentAt"`
	Properties        json.RawMessage `json:"properties"`
	Traits            json.RawMessage `json:"traits"`
	Context           json.RawMessage `json:"context"`
	Integrations      json.RawMessage `json:"integrations"`
	WriteKey          string          `json:"writeKey"`
}

// wireBatch is the body of POST /v1/batch.
type wireBatch struct {
	Batch        []json.RawMessage `json:"batch"`
	WriteKey     string            `json:"writeKey"`
	Context      json.RawMessage   `json:"context"`
	Integrations json.RawMessage   `json:"integrations"`
	SentAt       *string           `json:"sentAt"`
}

// decodeBatch decodes the body of POST /v1/batch. goccy can read past the
// end of malformed input (jsonx), so the body is checked whole before goccy
// sees it or any event, id or context cut from it. The usual body — an
// object with plain keys, "batch" an array — is checked and cut in one pass
// (cutBatch), cheaper than goccy alone; anything else is checked, then
// decoded by goccy.
func decodeBatch(body []byte) (wireBatch, error) {
	var b wireBatch
	if cutBatch(body, &b) {
		return b, nil
	}
	b = wireBatch{}
	if err := jsonx.Check(body); err != nil {
		return b, err
	}
	err := json.Unmarshal(body, &b)
	return b, err
}

// cutBatch fills b from body when body is a well-formed object whose keys
// have no escapes, whose "batch" is an array, "writeKey" and "sentAt"
// strings without escapes, "context" and "integrations" objects, each at
// most once; keys differing from those only in case (goccy would match
// them) send it to goccy. It reports false for anything else, having
// filled b in part perhaps. The events are the array's elements, checked.
func cutBatch(body []byte, b *wireBatch) bool {
	i := jsonx.Space(body, 0)
	if i >= len(body) || body[i] != '{' {
		return false
	}
	var seen [5]bool
	i = jsonx.Space(body, i+1)
	if i < len(body) && body[i] == '}' {
		return false // no batch: goccy's answer
	}
	for {
		key, end, ok := plainKey(body, i)
		if !ok {
			return false
		}
		i = jsonx.Space(body, end)
		if i >= len(body) || body[i] != ':' {
			return false
		}
		start := jsonx.Space(body, i+1)
		if end, ok = jsonx.End(body, start); !ok {
			return false
		}
		v := body[start:end]
		f := -1
		for j, name := range batchKeys {
			if key == name {
				f = j
			} else if strings.EqualFold(key, name) {
				return false
			}
		}
		if f >= 0 {
			if seen[f] {
				return false
			}
			seen[f] = true
		}
		switch f {
		case 0:
			if v[0] != '[' {
				return false
			}
			b.Batch = cutArray(v, b.Batch[:0])
		case 1, 2:
			s, ok := plainValue(v)
			if !ok {
				return false
			}
			if f == 1 {
				b.WriteKey = s
			} else {
				b.SentAt = &s
			}
		case 3, 4:
			if v[0] != '{' {
				return false
			}
			if f == 3 {
				b.Context = json.RawMessage(v)
			} else {
				b.Integrations = json.RawMessage(v)
			}
		}
		i = jsonx.Space(body, end)
		if i >= len(body) {
			return false
		}
		switch body[i] {
		case ',':
			i = jsonx.Space(body, i+1)
		case '}':
			return seen[0] && jsonx.Space(body, i+1) == len(body)
		default:
			return false
		}
	}
}

// batchKeys are wireBatch's JSON names in the order cutBatch numbers them.
var batchKeys = [5]string{"batch", "writeKey", "sentAt", "context", "integrations"}

// cutArray appends the elements of the well-formed array v to raws.
func cutArray(v []byte, raws []json.RawMessage) []json.RawMessage {
	if raws == nil {
		raws = []json.RawMessage{} // an empty batch is not a missing one
	}
	i := jsonx.Space(v, 1)
	for i < len(v) && v[i] != ']' {
		end, _ := jsonx.End(v, i) // v is well-formed
		raws = append(raws, json.RawMessage(v[i:end]))
		if i = jsonx.Space(v, end); v[i] == ',' {
			i = jsonx.Space(v, i+1)
		}
	}
	return raws
}

// plainKey reads the string at i when it is plain (plainValue).
func plainKey(b []byte, i int) (string, int, bool) {
	end, ok := jsonx.End(b, i)
	if !ok {
		return "", 0, false
	}
	s, ok := plainValue(b[i:end])
	return s, end, ok
}

// plainValue is the string v (a checked JSON value) when it is a string
// of printable ASCII without escapes: its bytes are what goccy would
// decode (no unescaping, no replacement of invalid UTF-8, no Unicode case
// folding when keys are matched).
func plainValue(v []byte) (string, bool) {
	if v[0] != '"' {
		return "", false
	}
	for _, c := range v[1 : len(v)-1] {
		if c == '\\' || c >= 0x80 {
			return "", false
		}
	}
	return string(v[1 : len(v)-1]), true
}

// idString reads an id sent as a JSON string or number (some SDKs send
// numeric ids); null or absent is "".
func idString(field string, b json.RawMessage) (string, error) {
	switch {
	case len(b) == 0 || bytes.Equal(b, []byte("null")):
		return "", nil
	case len(b) >= 2 && b[0] == '"':
		if inner := b[1 : len(b)-1]; bytes.IndexByte(inner, '\\') < 0 {
			return string(inner), nil // no escapes: the bytes are the string
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return "", cdp.Invalid(cdp.CodeInvalidField, field, string(b), "must be a string")
		}
		return s, nil
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return "", cdp.Invalid(cdp.CodeInvalidField, field, string(b), "must be a string or a number")
		}
		return n.String(), nil
	}
	return "", cdp.Invalid(cdp.CodeInvalidField, field, string(b), "must be a string or a number")
}

// decodeEvent turns one Segment call into a canonical event. endpointType
// is the type implied by a single-event endpoint ("" for batch elements,
// which carry their own). receivedAt is the server's clock.
func decodeEvent(raw []byte, endpointType cdp.EventType, workspace string, receivedAt time.Time, batchSentAt *string, batchCtx, batchIntegrations json.RawMessage) (*cdp.Event, error) {
	var w wireEvent
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, jsonFieldError(err)
	}
	typ := cdp.EventType(w.Type)
	if endpointType != "" {
		if w.Type != "" && typ != endpointType {
			return nil, cdp.Invalid(cdp.CodeInvalidType, "type", w.Type, "must be "+string(endpointType)+" on /v1/"+string(endpointType))
		}
		typ = endpointType
	} else if w.Type == "" {
		return nil, cdp.Invalid(cdp.CodeMissingField, "type", "", "is required in a batch element")
	}
	var ids [5]string
	for i, f := range [5]struct {
		name string
		raw  json.RawMessage
	}{{"messageId", w.MessageID}, {"userId", w.UserID}, {"anonymousId", w.AnonymousID}, {"previousId", w.PreviousID}, {"groupId", w.GroupID}} {
		v, err := idString(f.name, f.raw)
		if err != nil {
			return nil, err
		}
		ids[i] = v
	}
	e := &cdp.Event{
		Workspace:    workspace,
		MessageID:    ids[0],
		Type:         typ,
		Event:        w.Event,
		Name:         w.Name,
		Category:     w.Category,
		UserID:       ids[1],
		AnonymousID:  ids[2],
		PreviousID:   ids[3],
		GroupID:      ids[4],
		ReceivedAt:   receivedAt,
		Properties:   w.Properties,
		Traits:       w.Traits,
		Context:      w.Context,
		Integrations: w.Integrations,
	}
	if len(e.Context) == 0 {
		e.Context = batchCtx
	}
	if len(e.Integrations) == 0 {
		e.Integrations = batchIntegrations
	}
	for _, f := range []struct {
		name string
		v    *json.RawMessage
	}{{"properties", &e.Properties}, {"traits", &e.Traits}, {"context", &e.Context}, {"integrations", &e.Integrations}} {
		v := bytes.TrimSpace(*f.v)
		switch {
		case len(v) == 0 || bytes.Equal(v, []byte("null")):
			*f.v = nil
		case v[0] != '{':
			return nil, cdp.Invalid(cdp.CodeInvalidField, f.name, string(v), "must be a JSON object")
		default:
			*f.v = jsonx.Mend(*f.v) // as the speed layer reads it, and as DuckDB can
		}
	}
	if e.MessageID == "" {
		e.MessageID = uuid.Must(uuid.NewV7()).String()
	} else if len(e.MessageID) > 256 {
		return nil, cdp.Invalid(cdp.CodeInvalidField, "messageId", e.MessageID, "must be at most 256 characters")
	}

	ts, err := parseTime("timestamp", w.Timestamp)
	if err != nil {
		return nil, err
	}
	orig, err := parseTime("originalTimestamp", w.OriginalTimestamp)
	if err != nil {
		return nil, err
	}
	sentAtRaw := w.SentAt
	if sentAtRaw == nil {
		sentAtRaw = batchSentAt
	}
	sent, err := parseTime("sentAt", sentAtRaw)
	if err != nil {
		return nil, err
	}
	e.OriginalTimestamp, e.SentAt = orig, sent
	switch {
	case ts != nil:
		e.Timestamp = *ts
	case orig != nil:
		e.Timestamp = *orig
	default:
		e.Timestamp = receivedAt
	}
	// Clock-skew correction as Segment does it: the device clock's offset is
	// receivedAt − sentAt; shift the event time by it.
	if sent != nil && (ts != nil || orig != nil) {
		e.Timestamp = e.Timestamp.Add(receivedAt.Sub(*sent))
	}
	if e.Timestamp.Before(firstTime) || !e.Timestamp.Before(endTime) || e.Timestamp.UnixNano() == 0 {
		// The Unix epoch is a client's unset clock, and a time the speed
		// layer's nanoseconds cannot hold a clock gone wrong: the event
		// counts as received, in the lake as in the speed layer
		// (speed.Preparer).
		e.Timestamp = receivedAt
	}
	e.Timestamp = e.Timestamp.UTC()
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return e, nil
}

// The event times the speed layer holds: int64 nanoseconds since the
// Unix epoch reach from 1677-09-21 to 2262-04-11.
var (
	firstTime = time.Date(1678, 1, 1, 0, 0, 0, 0, time.UTC)
	endTime   = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
)

func parseTime(field string, s *string) (*time.Time, error) {
	if s == nil || *s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		return nil, cdp.Invalid(cdp.CodeInvalidTimestamp, field, *s, "must be an RFC 3339 date-time such as 2026-01-02T15:04:05.000Z")
	}
	t = t.UTC()
	return &t, nil
}

// jsonNames maps wireEvent's Go field names to their JSON names, so errors
// name the field as the client wrote it.
var jsonNames = func() map[string]string {
	m := map[string]string{}
	t := reflect.TypeOf(wireEvent{})
	for i := range t.NumField() {
		f := t.Field(i)
		m[f.Name] = strings.Split(f.Tag.Get("json"), ",")[0]
	}
	return m
}()

// jsonFieldError names the field of a type mismatch.
func jsonFieldError(err error) error {
	if te, ok := err.(*json.UnmarshalTypeError); ok && te.Field != "" {
		field := te.Field
		if name, ok := jsonNames[field]; ok {
			field = name
		}
		return cdp.Invalid(cdp.CodeInvalidField, field, te.Value, "has the wrong JSON type")
	}
	return cdp.Invalid(cdp.CodeInvalidJSON, "body", "", "is not valid JSON: "+err.Error())
}
