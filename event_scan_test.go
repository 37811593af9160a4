package cdp

import (
	"encoding/json"
	"testing"
	"time"
)

func TestScanCanonical(t *testing.T) {
	at := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	e := Event{Workspace: "w", MessageID: "m1", Type: Track, Event: "Order Completed", UserID: "u1",
		Timestamp: at, ReceivedAt: at, Properties: json.RawMessage(`{"revenue":9.5}`)}
	b := e.AppendJSON(nil)
	var seen []CanonicalField
	var user string
	ok := ScanCanonical(b, func(f CanonicalField, i int) (int, bool) {
		seen = append(seen, f)
		switch f {
		case FieldProperties:
			_, end, ok := RawObject(b, i)
			return end, ok
		case FieldUserID:
			s, end, ok := PlainString(b, i)
			user = s
			return end, ok
		default:
			_, end, ok := PlainString(b, i)
			return end, ok
		}
	})
	want := []CanonicalField{FieldWorkspace, FieldMessageID, FieldType, FieldEvent, FieldUserID, FieldTimestamp, FieldReceivedAt, FieldProperties}
	if !ok || len(seen) != len(want) || user != "u1" {
		t.Fatalf("ScanCanonical(%s) = %v, fields %v, userId %q; want true, %v, u1", b, ok, seen, user, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("field %d = %d, want %d", i, seen[i], want[i])
		}
	}
	plain := func(f CanonicalField, i int) (int, bool) {
		_, end, ok := PlainString(b, i)
		if f == FieldProperties {
			_, end, ok = RawObject(b, i)
		}
		return end, ok
	}
	for _, bad := range []string{
		`{"messageId":"m1","workspace":"w","type":"track","timestamp":"2026-11-22T09:00:00Z","receivedAt":"2026-11-22T09:00:00Z"}`,  // order
		`{"workspace":"w","messageId":"m1","type":"track","receivedAt":"2026-11-22T09:00:00Z"}`,                                     // no timestamp
		`{"workspace":"w", "messageId":"m1","type":"track","timestamp":"2026-11-22T09:00:00Z","receivedAt":"2026-11-22T09:00:00Z"}`, // space
		`{"workspace":"w","messageId":"m1","type":"track","timestamp":"2026-11-22T09:00:00Z","receivedAt":"2026-11-22T09:00:00Z","x":1}`,
		`{"workspace":"w","messageId":"m1","type":"track","timestamp":"2026-11-22T09:00:00Z","receivedAt":"2026-11-22T09:00:00Z"} `,
	} {
		b = []byte(bad)
		if ScanCanonical(b, plain) {
			t.Errorf("ScanCanonical(%s) = true, want false", bad)
		}
	}
}

func TestPlainString(t *testing.T) {
	for in, want := range map[string]bool{`""`: true, `"abc"`: true, `"a\"b"`: false, "\"é\"": false, "\"a\tb\"": false, `"abc`: false, `abc`: false} {
		if _, _, ok := PlainString([]byte(in), 0); ok != want {
			t.Errorf("PlainString(%s) ok = %v, want %v", in, ok, want)
		}
	}
}
