package cdp

import (
	"errors"
	"fmt"
)

// Sentinel errors shared by every layer.
var (
	// ErrNotFound is returned when a profile, identifier or object does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUnauthorized is returned for a missing or unknown key.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden is returned when a key's role may not perform an action.
	ErrForbidden = errors.New("forbidden")
	// ErrTooLarge is returned when a payload exceeds a size limit.
	ErrTooLarge = errors.New("too large")
)

// ValidationError says which field of an input broke which rule, and with what value.
type ValidationError struct {
	Code  string // stable machine-readable code, e.g. "missing_field"
	Field string // JSON path of the field, e.g. "userId"
	Value string // offending value (truncated), empty when missing
	Rule  string // human description of the rule
}

func (e *ValidationError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Rule)
	}
	return fmt.Sprintf("%s: %s (got %q)", e.Field, e.Rule, e.Value)
}

// The codes an event is refused with (ValidationError.Code), by the
// collector or, for a message of cdp.events, the speed layer.
const (
	CodeInvalidJSON      = "invalid_json"
	CodeInvalidField     = "invalid_field"
	CodeInvalidType      = "invalid_type"
	CodeMissingField     = "missing_field"
	CodeInvalidTimestamp = "invalid_timestamp"
	CodeInvalidTraits    = "invalid_traits"
	CodeEventTooLarge    = "event_too_large"
	CodeInvalidEvent     = "invalid_event"
)

// EventCodes lists every code an event is refused with: the counters by
// reason have a series of each from the start, for an alert on the first.
var EventCodes = []string{CodeInvalidJSON, CodeInvalidField, CodeInvalidType, CodeMissingField,
	CodeInvalidTimestamp, CodeInvalidTraits, CodeEventTooLarge, CodeInvalidEvent}

// Invalid builds a ValidationError; value is cut to 64 bytes.
func Invalid(code, field, value, rule string) *ValidationError {
	if len(value) > 64 {
		value = value[:64] + "…"
	}
	return &ValidationError{Code: code, Field: field, Value: value, Rule: rule}
}
