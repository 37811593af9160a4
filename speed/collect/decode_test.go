package collect

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/internal/jsonx"
)

var recv = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func TestDecodeEventValidation(t *testing.T) {
	tests := []struct {
		name     string
		endpoint cdp.EventType
		body     string
		code     string // expected ValidationError code; "" = valid
		field    string
	}{
		{"identify with userId", cdp.Identify, `{"userId":"u1","traits":{"email":"a@b.co"}}`, "", ""},
		{"identify with anonymousId", cdp.Identify, `{"anonymousId":"a1"}`, "", ""},
		{"identify without ids", cdp.Identify, `{"traits":{}}`, "missing_field", "userId"},
		{"track with event", cdp.Track, `{"userId":"u1","event":"Signed Up"}`, "", ""},
		{"track without event", cdp.Track, `{"userId":"u1"}`, "missing_field", "event"},
		{"track without ids", cdp.Track, `{"event":"x"}`, "missing_field", "userId"},
		{"page anonymous", cdp.Page, `{"anonymousId":"a","name":"Home"}`, "", ""},
		{"page without ids", cdp.Page, `{"name":"Home"}`, "missing_field", "userId"},
		{"screen", cdp.Screen, `{"userId":"u","name":"Cart"}`, "", ""},
		{"screen without ids", cdp.Screen, `{}`, "missing_field", "userId"},
		{"group", cdp.Group, `{"userId":"u","groupId":"g"}`, "", ""},
		{"group without groupId", cdp.Group, `{"userId":"u"}`, "missing_field", "groupId"},
		{"group without ids", cdp.Group, `{"groupId":"g"}`, "missing_field", "userId"},
		{"alias", cdp.Alias, `{"userId":"u","previousId":"a"}`, "", ""},
		{"alias without previousId", cdp.Alias, `{"userId":"u"}`, "missing_field", "previousId"},
		{"alias without userId", cdp.Alias, `{"previousId":"a","anonymousId":"x"}`, "missing_field", "userId"},
		{"numeric userId", cdp.Identify, `{"userId":42}`, "", ""},
		{"bad timestamp", cdp.Track, `{"userId":"u","event":"e","timestamp":"yesterday"}`, "invalid_timestamp", "timestamp"},
		{"bad sentAt", cdp.Track, `{"userId":"u","event":"e","sentAt":"2026-13-01"}`, "invalid_timestamp", "sentAt"},
		{"properties not object", cdp.Track, `{"userId":"u","event":"e","properties":[1]}`, "invalid_field", "properties"},
		{"traits not object", cdp.Identify, `{"userId":"u","traits":"x"}`, "invalid_field", "traits"},
		{"context not object", cdp.Identify, `{"userId":"u","context":5}`, "invalid_field", "context"},
		{"event wrong type", cdp.Track, `{"userId":"u","event":5}`, "invalid_field", "event"},
		{"type mismatch", cdp.Track, `{"type":"identify","userId":"u","event":"e"}`, "invalid_type", "type"},
		{"batch element without type", "", `{"userId":"u"}`, "missing_field", "type"},
		{"batch element unknown type", "", `{"type":"purchase","userId":"u"}`, "invalid_type", "type"},
		{"not json", cdp.Track, `{"userId":`, "invalid_json", "body"},
		{"messageId too long", cdp.Track, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "messageId too long" {
				long := make([]byte, 300)
				for i := range long {
					long[i] = 'x'
				}
				tt.body = `{"userId":"u","event":"e","messageId":"` + string(long) + `"}`
				tt.code, tt.field = "invalid_field", "messageId"
			}
			e, err := decodeEvent([]byte(tt.body), tt.endpoint, "ws", recv, nil, nil, nil)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if e.MessageID == "" || e.Workspace != "ws" || !e.ReceivedAt.Equal(recv) {
					t.Fatalf("defaults not set: %+v", e)
				}
				return
			}
			var ve *cdp.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want ValidationError %s, got %v", tt.code, err)
			}
			if ve.Code != tt.code || ve.Field != tt.field {
				t.Fatalf("got code %q field %q (%v), want %q %q", ve.Code, ve.Field, ve, tt.code, tt.field)
			}
		})
	}
}

func TestDecodeEventTimes(t *testing.T) {
	tests := []struct {
		name string
		body string
		want time.Time
	}{
		{"no timestamp → receivedAt", `{"userId":"u"}`, recv},
		{"timestamp kept without sentAt", `{"userId":"u","timestamp":"2026-11-22T11:00:00Z"}`, time.Date(2026, 11, 22, 11, 0, 0, 0, time.UTC)},
		// Device clock 1 h ahead: sentAt 13:00 device time, received 12:00 → shift −1 h.
		{"skew corrected", `{"userId":"u","timestamp":"2026-11-22T12:59:00Z","sentAt":"2026-11-22T13:00:00Z"}`, time.Date(2026, 11, 22, 11, 59, 0, 0, time.UTC)},
		{"originalTimestamp corrected", `{"userId":"u","originalTimestamp":"2026-11-22T11:58:00+01:00","sentAt":"2026-11-22T12:00:00+01:00"}`, time.Date(2026, 11, 22, 11, 58, 0, 0, time.UTC)},
		{"offset normalized to UTC", `{"userId":"u","timestamp":"2026-11-22T13:00:00+02:00"}`, time.Date(2026, 11, 22, 11, 0, 0, 0, time.UTC)},
		{"the Unix epoch (an unset clock) → receivedAt", `{"userId":"u","timestamp":"1970-01-01T00:00:00Z"}`, recv},
		{"a second after it kept", `{"userId":"u","timestamp":"1970-01-01T00:00:01Z"}`, time.Unix(1, 0).UTC()},
		// Past what int64 nanoseconds since the epoch hold (the speed layer's clock).
		{"before 1678 → receivedAt", `{"userId":"u","timestamp":"1600-02-29T00:00:00Z"}`, recv},
		{"Go's zero time → receivedAt", `{"userId":"u","timestamp":"0001-01-01T00:00:00Z"}`, recv},
		{"2262 → receivedAt", `{"userId":"u","timestamp":"2262-01-01T00:00:00Z"}`, recv},
		{"skewed past 2262 → receivedAt", `{"userId":"u","timestamp":"2261-12-31T23:00:00Z","sentAt":"2026-11-22T10:00:00Z"}`, recv},
		{"1678 kept", `{"userId":"u","timestamp":"1678-01-01T00:00:00Z"}`, time.Date(1678, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"2261 kept", `{"userId":"u","timestamp":"2261-12-31T23:59:59.999999999Z"}`, time.Date(2261, 12, 31, 23, 59, 59, 999999999, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := decodeEvent([]byte(tt.body), cdp.Identify, "ws", recv, nil, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !e.Timestamp.Equal(tt.want) || e.Timestamp.Location() != time.UTC {
				t.Fatalf("timestamp %v, want %v", e.Timestamp, tt.want)
			}
		})
	}
}

func TestDecodeEventBatchDefaults(t *testing.T) {
	sent := "2026-11-22T12:00:10Z"
	e, err := decodeEvent([]byte(`{"type":"track","userId":"u","event":"e","timestamp":"2026-11-22T12:00:05Z"}`), "", "ws", recv, &sent,
		[]byte(`{"library":{"name":"x"}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(e.Context) != `{"library":{"name":"x"}}` {
		t.Fatalf("batch context not applied: %s", e.Context)
	}
	if want := recv.Add(-5 * time.Second); !e.Timestamp.Equal(want) {
		t.Fatalf("batch sentAt skew: got %v want %v", e.Timestamp, want)
	}
}

// The raw JSON the collector passes on holds nothing DuckDB refuses: a
// lone surrogate, or bytes that are not UTF-8, are written as U+FFFD, which
// is what the speed layer reads them as.
func TestDecodeEventMendsText(t *testing.T) {
	e, err := decodeEvent([]byte("{\"type\":\"identify\",\"userId\":\"u\",\"traits\":{\"nick\":\"Ann\\ud83d\",\"city\":\"Z\xfcrich\"}}"), "", "ws", recv, nil,
		[]byte(`{"page":{"title":"\udc00"}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(e.Traits), `{"nick":"Ann\ufffd","city":"Z`+"\uFFFD"+`rich"}`; got != want {
		t.Errorf("traits %s, want %s", got, want)
	}
	if got, want := string(e.Context), `{"page":{"title":"\ufffd"}}`; got != want {
		t.Errorf("context %s, want %s", got, want)
	}
}

func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"type":"track","userId":"u","event":"e","properties":{"a":1}}`,
		`{"type":"identify","anonymousId":7,"traits":{"email":"A@B.c"},"timestamp":"2026-01-01T00:00:00Z","sentAt":"2026-01-01T00:00:01Z"}`,
		`{"type":"alias","userId":"u","previousId":"p"}`,
		`{"type":"group","userId":"u","groupId":"g","context":null}`,
		`{"batch":[]}`, `[]`, `null`, `{"userId":1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEvent(b, "", "ws", recv, nil, nil, nil)
		if err != nil {
			var ve *cdp.ValidationError
			if !errors.As(err, &ve) || ve.Code == "" || ve.Field == "" {
				t.Fatalf("error without code and field: %v", err)
			}
			return
		}
		if verr := e.Validate(); verr != nil {
			t.Fatalf("accepted an invalid event: %v", verr)
		}
		if e.MessageID == "" || e.Timestamp.IsZero() {
			t.Fatalf("accepted event without messageId/timestamp: %+v", e)
		}
		for _, raw := range [][]byte{e.Properties, e.Traits, e.Context, e.Integrations} {
			if !bytes.Equal(jsonx.Mend(raw), raw) {
				t.Fatalf("passed on %q unmended", raw)
			}
		}
	})
}

// FuzzDecodeBatch checks the one-pass cut of a batch body (cutBatch)
// against goccy on checked input: same events, key, sentAt and contexts,
// and no input accepted that encoding/json finds malformed.
func FuzzDecodeBatch(f *testing.F) {
	for _, s := range []string{
		string(benchBatchBody(3)),
		`{"batch":[],"writeKey":"k","sentAt":"2026-11-22T00:00:00Z","context":{"a":1},"integrations":{}}`,
		`{ "batch" : [ {"type":"track"} , 1 , "x" , null ] , "other" : [1,{"a":"\u00e9"}] }`,
		`{"Batch":[1]}`, `{"batch":null}`, `{"batch":[1],"batch":[2]}`, `{"batch":[1],"writeKey":"k\n"}`,
		`{"batch":[1],"context":null}`, `{"batch":[1],"writeKey":"é"}`, `{}`, `[1,2]`, `null`,
		`{"":"","":"","":"e29","tim\`, `{"batch":[{"userId":"\u00`, `{"batch":[1]} x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var cut wireBatch
		if !cutBatch(body, &cut) {
			return
		}
		if !stdjson.Valid(body) {
			t.Fatalf("cutBatch accepted malformed %q", body)
		}
		var want wireBatch
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatalf("cutBatch accepted %q, goccy: %v", body, err)
		}
		if (cut.Batch == nil) != (want.Batch == nil) || len(cut.Batch) != len(want.Batch) || cut.WriteKey != want.WriteKey ||
			(cut.SentAt == nil) != (want.SentAt == nil) || (cut.SentAt != nil && *cut.SentAt != *want.SentAt) ||
			!bytes.Equal(cut.Context, want.Context) || !bytes.Equal(cut.Integrations, want.Integrations) {
			t.Fatalf("%q: cutBatch %+v, goccy %+v", body, cut, want)
		}
		for i := range cut.Batch {
			if !bytes.Equal(cut.Batch[i], want.Batch[i]) {
				t.Fatalf("%q: event %d is %q, goccy %q", body, i, cut.Batch[i], want.Batch[i])
			}
		}
	})
}
