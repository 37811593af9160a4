package cdp

import (
	"encoding/base64"
	"encoding/json"
	"time"
	"unicode/utf8"
)

// EventType is one of the Segment spec's call types.
type EventType string

// Segment call types.
const (
	Identify EventType = "identify"
	Track    EventType = "track"
	Page     EventType = "page"
	Screen   EventType = "screen"
	Group    EventType = "group"
	Alias    EventType = "alias"
)

// EventTypes lists every supported type, in the order of the Segment spec.
var EventTypes = []EventType{Identify, Track, Page, Screen, Group, Alias}

// Valid reports whether t is a known call type.
func (t EventType) Valid() bool {
	switch t {
	case Identify, Track, Page, Screen, Group, Alias:
		return true
	}
	return false
}

// Event is the canonical form of a Segment call as it travels on Kafka
// (topic cdp.events, JSON value) and lands in the lake. Times are UTC.
type Event struct {
	Workspace         string          `json:"workspace"`
	MessageID         string          `json:"messageId"`
	Type              EventType       `json:"type"`
	Event             string          `json:"event,omitempty"` // track: the event name
	Name              string          `json:"name,omitempty"`  // page/screen name
	Category          string          `json:"category,omitempty"`
	UserID            string          `json:"userId,omitempty"`
	AnonymousID       string          `json:"anonymousId,omitempty"`
	PreviousID        string          `json:"previousId,omitempty"` // alias
	GroupID           string          `json:"groupId,omitempty"`    // group
	Timestamp         time.Time       `json:"timestamp"`            // skew-corrected event time
	OriginalTimestamp *time.Time      `json:"originalTimestamp,omitempty"`
	SentAt            *time.Time      `json:"sentAt,omitempty"`
	ReceivedAt        time.Time       `json:"receivedAt"`
	Properties        json.RawMessage `json:"properties,omitempty"`
	Traits            json.RawMessage `json:"traits,omitempty"`
	Context           json.RawMessage `json:"context,omitempty"`
	Integrations      json.RawMessage `json:"integrations,omitempty"`
}

// Key is the Kafka message key: "<workspace>/<userId or anonymousId>".
// Events of one person share a partition, so they stay in order.
func (e *Event) Key() string {
	id := e.UserID
	if id == "" {
		id = e.AnonymousID
	}
	return e.Workspace + "/" + id
}

// Validate checks the per-type rules of the Segment spec.
func (e *Event) Validate() error {
	if !e.Type.Valid() {
		return Invalid(CodeInvalidType, "type", string(e.Type), "must be one of identify, track, page, screen, group, alias")
	}
	if e.MessageID == "" {
		return Invalid(CodeMissingField, "messageId", "", "is required")
	}
	switch e.Type {
	case Alias:
		if e.UserID == "" {
			return Invalid(CodeMissingField, "userId", "", "is required for alias")
		}
		if e.PreviousID == "" {
			return Invalid(CodeMissingField, "previousId", "", "is required for alias")
		}
		return nil
	case Track:
		if e.Event == "" {
			return Invalid(CodeMissingField, "event", "", "is required for track")
		}
	case Group:
		if e.GroupID == "" {
			return Invalid(CodeMissingField, "groupId", "", "is required for group")
		}
	}
	if e.UserID == "" && e.AnonymousID == "" {
		return Invalid(CodeMissingField, "userId", "", "userId or anonymousId is required")
	}
	return nil
}

// DecodeEvent parses a canonical event from its Kafka value.
func DecodeEvent(b []byte) (*Event, error) {
	var e Event
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, err
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return &e, nil
}

// Rejection is the value written to cdp.events.rejected: what was refused,
// by whom and why. Nothing is dropped silently.
type Rejection struct {
	Workspace  string    `json:"workspace,omitempty"`
	Source     string    `json:"source"` // "collector" or "speed"
	Code       string    `json:"code"`
	Field      string    `json:"field,omitempty"`
	Message    string    `json:"message"`
	ReceivedAt time.Time `json:"receivedAt"`
	// Payload is the refused input as received (JSON text when it was JSON).
	// JSON text cannot carry bytes that are not UTF-8: it has U+FFFD in their
	// place, and PayloadBase64 the input byte for byte (WithPayload).
	Payload       string `json:"payload"`
	PayloadBase64 string `json:"payloadBase64,omitempty"`
	// Partition and Offset locate a poison message in cdp.events (speed layer only).
	Partition *int   `json:"partition,omitempty"`
	Offset    *int64 `json:"offset,omitempty"`
}

// WithPayload sets the refused input b: as text, and also in base64 when it
// is not valid UTF-8, so the rejection keeps every byte.
func (r Rejection) WithPayload(b []byte) Rejection {
	r.Payload = string(b)
	if !utf8.Valid(b) {
		r.PayloadBase64 = base64.StdEncoding.EncodeToString(b)
	}
	return r
}
