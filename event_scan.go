package cdp

import (
	"unsafe"

	"github.com/tributary-cdp/tributary/internal/jsonx"
)

// CanonicalField numbers the top-level keys of AppendJSON's output, in
// the order it writes them.
type CanonicalField uint8

// The keys of AppendJSON's output, in its order.
const (
	FieldWorkspace CanonicalField = iota
	FieldMessageID
	FieldType
	FieldEvent
	FieldName
	FieldCategory
	FieldUserID
	FieldAnonymousID
	FieldPreviousID
	FieldGroupID
	FieldTimestamp
	FieldOriginalTimestamp
	FieldSentAt
	FieldReceivedAt
	FieldProperties
	FieldTraits
	FieldContext
	FieldIntegrations
)

// canonicalKeys are the keys with their quotes and colon, indexed by
// CanonicalField; required ones AppendJSON always writes.
var canonicalKeys = [...]struct {
	key      string
	required bool
}{
	FieldWorkspace:         {`"workspace":`, true},
	FieldMessageID:         {`"messageId":`, true},
	FieldType:              {`"type":`, true},
	FieldEvent:             {`"event":`, false},
	FieldName:              {`"name":`, false},
	FieldCategory:          {`"category":`, false},
	FieldUserID:            {`"userId":`, false},
	FieldAnonymousID:       {`"anonymousId":`, false},
	FieldPreviousID:        {`"previousId":`, false},
	FieldGroupID:           {`"groupId":`, false},
	FieldTimestamp:         {`"timestamp":`, true},
	FieldOriginalTimestamp: {`"originalTimestamp":`, false},
	FieldSentAt:            {`"sentAt":`, false},
	FieldReceivedAt:        {`"receivedAt":`, true},
	FieldProperties:        {`"properties":`, false},
	FieldTraits:            {`"traits":`, false},
	FieldContext:           {`"context":`, false},
	FieldIntegrations:      {`"integrations":`, false},
}

// ScanCanonical walks b when it is an event in AppendJSON's form: compact,
// the keys in that order, the required ones present, nothing else. For
// each key it calls value with the field and the index of its value in b;
// value reads it and returns the index just after it, or false. The fast
// paths of the speed layer and land decode the collector's events with it
// and fall back to a general JSON decoder when it reports false (having
// perhaps called value for some keys).
func ScanCanonical(b []byte, value func(f CanonicalField, i int) (end int, ok bool)) bool {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return false
	}
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
		end, ok := value(CanonicalField(k), i)
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

// PlainString reads the JSON string at b[i] when it has no escapes and
// only printable ASCII (what AppendJSON writes for such a string),
// returning it and the index after it. The string aliases b: b must not
// change while it is in use.
func PlainString(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			if j == i+1 {
				return "", j + 1, true
			}
			return unsafe.String(&b[i+1], j-i-1), j + 1, true
		case c < 0x20 || c == '\\' || c >= 0x80:
			return "", 0, false
		}
	}
	return "", 0, false
}

// RawObject reads the well-formed JSON object at b[i] as it is written,
// returning its bytes (aliasing b) and the index after it.
func RawObject(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '{' {
		return nil, 0, false
	}
	end, ok := jsonx.End(b, i)
	if !ok {
		return nil, 0, false
	}
	return b[i:end:end], end, true
}
