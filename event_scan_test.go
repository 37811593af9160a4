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

// FuzzJSONTime holds the fast paths to what they stand for: JSONTime to
// time.Time's UnmarshalJSON, PlainString to a byte at a time.
func FuzzJSONTime(f *testing.F) {
	for _, s := range []string{
		`"2026-11-22T09:00:00Z"`, `"2026-11-22T09:00:00.123456789Z"`, `"2026-11-22T09:00:00.1234567891Z"`, `"2024-02-29T23:59:59.5Z"`,
		`"2025-02-29T00:00:00Z"`, `"2026-11-22T24:00:00Z"`, `"2026-11-22T09:00:60Z"`, `"2026-11-22T09:00:00.Z"`, `"0000-01-01T00:00:00Z"`,
		`"2026-11-22T09:00:00+01:00"`, `"2026-11-22T09:00:00,5Z"`, `"2026-11-22t09:00:00z"`, `"2026-11-22T09:00:00Z`, `"2026-11-22T9:00:00Z"`,
		`"abcdefgh\"ijklmnopqrstuvwxyz"`, "\"0123456789abcdef\x7fé\"", `"0123456\\"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, end, ok := JSONTime(b, 0)
		_, send, sok := PlainString(b, 0)
		var want time.Time
		wok := sok && want.UnmarshalJSON(b[:send]) == nil
		if ok != wok || ok && (end != send || !got.Equal(want) || got.Location().String() != want.Location().String()) {
			t.Fatalf("JSONTime(%s) = %v, %d, %v; UnmarshalJSON: %v, %d, %v", b, got, end, ok, want, send, wok)
		}
		if ok && want.Location() == time.UTC && got != want {
			t.Fatalf("JSONTime(%s) = %#v, UnmarshalJSON %#v", b, got, want)
		}
		// A string of plain bytes up to the first quote, else not a string.
		wend, wplain := 0, len(b) > 0 && b[0] == '"'
		for j := 1; wplain && wend == 0; j++ {
			switch {
			case j == len(b) || b[j] < 0x20 || b[j] == '\\' || b[j] >= 0x80:
				wplain = false
			case b[j] == '"':
				wend = j + 1
			}
		}
		if sok != wplain || sok && send != wend {
			t.Fatalf("PlainString(%s) = %d, %v; want %d, %v", b, send, sok, wend, wplain)
		}
	})
}

func TestJSONTimeDays(t *testing.T) {
	for d := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 10000; d = d.Add(24*time.Hour + 1001*time.Second + 7) {
		b := d.AppendFormat([]byte{'"'}, time.RFC3339Nano)
		b = append(b, '"')
		got, end, ok := JSONTime(b, 0)
		if !ok || end != len(b) || got != d {
			t.Fatalf("JSONTime(%s) = %v, %d, %v", b, got, end, ok)
		}
	}
}
