package cdp

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	ts := time.Date(2026, 11, 22, 12, 0, 0, 123456789, time.UTC)
	sent := ts.Add(time.Second)
	events := []Event{
		{Workspace: "w", MessageID: "m", Type: Track, Event: "Order \"Completed\"", UserID: "u<1>&", Timestamp: ts, ReceivedAt: ts,
			Properties: json.RawMessage(`{"revenue":12.5}`)},
		{Workspace: "w", MessageID: "m2", Type: Identify, AnonymousID: "a\n\t\x01é\u2028", Timestamp: ts, SentAt: &sent, OriginalTimestamp: &ts,
			ReceivedAt: ts, Traits: json.RawMessage(`{"email":"x@y.z"}`), Context: json.RawMessage(`{"ip":"1.2.3.4"}`), Integrations: json.RawMessage(`{"All":true}`)},
		{Workspace: "w", MessageID: "m3", Type: Alias, UserID: "u", PreviousID: "p", Name: "n", Category: "c", GroupID: "g", Timestamp: ts, ReceivedAt: ts},
		{Workspace: "w", MessageID: "bad\xffutf8", Type: Page, UserID: "u", Timestamp: ts, ReceivedAt: ts},
	}
	for _, e := range events {
		want, err := json.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Errorf("AppendJSON:\n got %s\nwant %s", got, want)
		}
	}
}

func TestAppendJSONCompactsMultilineRaw(t *testing.T) {
	e := Event{Workspace: "w", MessageID: "m", Type: Track, Event: "e", UserID: "u",
		Properties: json.RawMessage("{\n  \"a\": 1\n}")}
	got := e.AppendJSON(nil)
	if bytes.ContainsAny(got, "\n\r") || !bytes.Contains(got, []byte(`"properties":{"a":1}`)) {
		t.Fatalf("not compacted: %s", got)
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("u", "e", "m")
	f.Add("\x00\"\\<", "é\u2029", "\xff")
	f.Fuzz(func(t *testing.T, user, event, msg string) {
		e := Event{Workspace: "w", MessageID: msg, Type: Track, Event: event, UserID: user}
		want, _ := json.Marshal(&e)
		if got := e.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("got %s want %s", got, want)
		}
	})
}
