package cdp

import (
	"time"
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

// hasPrefixAt compares the byte after the quote first: it tells most keys
// apart, and ScanCanonical tries every optional key that is left out.
func hasPrefixAt(b []byte, i int, prefix string) bool {
	return len(b)-i >= len(prefix) && b[i+1] == prefix[1] && string(b[i:i+len(prefix)]) == prefix
}

// PlainString reads the JSON string at b[i] when it has no escapes and
// only printable ASCII (what AppendJSON writes for such a string),
// returning it and the index after it. The string aliases b: b must not
// change while it is in use.
func PlainString(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", 0, false
	}
	for j := jsonx.Plain(b, i+1, true); j < len(b); j++ {
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

// JSONTime reads the JSON string at b[i] as time.Time's UnmarshalJSON does,
// returning the time and the index after the string. What AppendJSON
// writes for a UTC time is read here, without time's general parser; the
// rest (other offsets, escapes) by UnmarshalJSON.
func JSONTime(b []byte, i int) (time.Time, int, bool) {
	if t, end, ok := utcTime(b, i); ok {
		return t, end, true
	}
	_, end, ok := PlainString(b, i)
	if !ok {
		return time.Time{}, 0, false
	}
	var t time.Time
	if t.UnmarshalJSON(b[i:end]) != nil {
		return time.Time{}, 0, false
	}
	return t, end, true
}

// utcTime reads "2006-01-02T15:04:05[.999999999]Z" at b[i], with the
// range checks of time's RFC 3339 parser.
func utcTime(b []byte, i int) (time.Time, int, bool) {
	s := b[i:]
	if len(s) < len(`"2006-01-02T15:04:05Z"`) || s[0] != '"' || s[5] != '-' || s[8] != '-' || s[11] != 'T' || s[14] != ':' || s[17] != ':' {
		return time.Time{}, 0, false
	}
	year, ok := digits(s[1:5], 0, 9999)
	month, ok2 := digits(s[6:8], 1, 12)
	if !ok || !ok2 {
		return time.Time{}, 0, false
	}
	day, ok := digits(s[9:11], 1, daysIn(month, year))
	hour, ok2 := digits(s[12:14], 0, 23)
	minute, ok3 := digits(s[15:17], 0, 59)
	sec, ok4 := digits(s[18:20], 0, 59)
	if !ok || !ok2 || !ok3 || !ok4 {
		return time.Time{}, 0, false
	}
	j, nsec := 20, 0
	if s[j] == '.' {
		for j++; j < len(s) && j < 30 && s[j] >= '0' && s[j] <= '9'; j++ {
			nsec = nsec*10 + int(s[j]-'0')
		}
		if j == 21 {
			return time.Time{}, 0, false
		}
		for k := j; k < 30; k++ {
			nsec *= 10
		}
	}
	if len(s)-j < 2 || s[j] != 'Z' || s[j+1] != '"' {
		return time.Time{}, 0, false // an offset, more than nine digits of fraction, …
	}
	// time.Date's result, without its normalizing: days since 1970-01-01
	// of the proleptic Gregorian calendar, from March-based years
	// (howardhinnant.github.io/date_algorithms.html, days_from_civil).
	y := year
	if month <= 2 {
		y--
	}
	era := (y+400)/400 - 1 // floor, for year 0's January and February
	yoe := y - era*400
	doy := (153*((month+9)%12)+2)/5 + day - 1
	days := era*146097 + yoe*365 + yoe/4 - yoe/100 + doy - 719468
	unix := int64(days)*86400 + int64(hour*3600+minute*60+sec)
	return time.Unix(unix, int64(nsec)).UTC(), i + j + 2, true
}

// digits reads the decimal number s when it is in [lo, hi].
func digits(s []byte, lo, hi int) (int, bool) {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n >= lo && n <= hi
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
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
