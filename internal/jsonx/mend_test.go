package jsonx

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

var mendCases = map[string]string{
	`{"a":"x"}`:                      `{"a":"x"}`,
	`{"a":"\ud83d"}`:                 `{"a":"\ufffd"}`,
	`{"a":"\ud83d\ude00"}`:           `{"a":"\ud83d\ude00"}`,
	`{"a":"\uD83D\uDE00\uDE00"}`:     `{"a":"\uD83D\uDE00\ufffd"}`,
	`{"a":"\ud83d\ud83d\ude00"}`:     `{"a":"\ufffd\ud83d\ude00"}`,
	`{"a":"\ud83d\n","\udbff":1}`:    `{"a":"\ufffd\n","\ufffd":1}`,
	`{"a":"\\ud800"}`:                `{"a":"\\ud800"}`, // an escaped backslash, no escape
	`{"a":"\\\ud800"}`:               `{"a":"\\\ufffd"}`,
	`{"a":"\ud800\u0041"}`:           `{"a":"\ufffd\u0041"}`,
	"{\"a\":\"caf\xe9\",\"\xff\":1}": "{\"a\":\"caf\uFFFD\",\"\uFFFD\":1}",
	"{\"a\":\"\xed\xa0\x80\"}":       "{\"a\":\"\uFFFD\uFFFD\uFFFD\"}", // a surrogate in UTF-8
	`{"a":"é\u00e9"}`:                `{"a":"é\u00e9"}`,
	`{"a":"\ud83d`:                   `{"a":"\ufffd`, // not JSON: mended all the same, no panic
	`"\u`:                            `"\u`,
}

// Mend writes what Go's decoders read as U+FFFD as one, and nothing else.
func TestMend(t *testing.T) {
	for in, want := range mendCases {
		got := Mend([]byte(in))
		if string(got) != want {
			t.Errorf("Mend(%q) = %q, want %q", in, got, want)
		}
	}
	// The usual text costs no copy.
	plain := []byte(`{"a":"\ud83d\ude00 caf\u00e9 café"}`)
	if n := testing.AllocsPerRun(10, func() { Mend(plain) }); n != 0 {
		t.Errorf("Mend of text with nothing to mend: %v allocations", n)
	}
}

func FuzzMend(f *testing.F) {
	for in := range mendCases {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		m := Mend(b)
		if !bytes.Equal(b, in) {
			t.Fatalf("Mend changed its input %q", in)
		}
		if !utf8.Valid(m) || !bytes.Equal(Mend(m), m) {
			t.Fatalf("Mend(%q) = %q: not mended", in, m)
		}
		var before, after any
		if json.Unmarshal(in, &before) != nil {
			return
		}
		if err := json.Unmarshal(m, &after); err != nil || !reflect.DeepEqual(before, after) {
			t.Fatalf("Mend(%q) = %q reads %v, %v; want %v", in, m, after, err, before)
		}
	})
}
