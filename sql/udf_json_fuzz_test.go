package sql

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	gojson "github.com/goccy/go-json"
)

// FuzzJSONMembers checks the in-place reading against goccy/go-json, which
// it falls back to.
func FuzzJSONMembers(f *testing.F) {
	for _, s := range []string{`{"a": 1.50, "b":[1, {"c": null}]}`, `{"a":1,"a":2}`, `{"a\u0062":1}`, `{} x`, `{"a":1,}`, `[]`, `{"a\u0000":1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, obj string) {
		got, gok := jsonMembers([]byte(obj))
		var m map[string]gojson.RawMessage
		wok := json.Valid([]byte(obj)) && // goccy can panic on malformed JSON
			gojson.Unmarshal([]byte(obj), &m) == nil && m != nil
		if gok != wok {
			t.Fatalf("%q: ok %v, goccy %v", obj, gok, wok)
		}
		var want []string
		for k, v := range m {
			if !strings.Contains(k, "\x00") { // none (jsonMembers)
				want = append(want, k+"="+string(v))
			}
		}
		var have []string
		for _, x := range got {
			kv := x.(map[string]any)
			have = append(have, kv["k"].(string)+"="+kv["v"].(string))
		}
		slices.Sort(want)
		slices.Sort(have)
		if gok && !slices.Equal(have, want) {
			t.Fatalf("%q:\n got %q\nwant %q", obj, have, want)
		}
	})
}

// FuzzLastValues checks that json_last's text reads as its input does in
// Go (a repeated key's last value, numbers as written), and needs no more.
func FuzzLastValues(f *testing.F) {
	for _, s := range []string{`{"a":{"c":1,"c":2.50},"b":[{"x":1,"x":"y"}]}`, `{"a\u0062":"\u003c","ab":1}`, `{} x`, `1e400`, `"\ud800"`} {
		f.Add(s)
	}
	decode := func(s string) (any, error) {
		d := json.NewDecoder(strings.NewReader(s))
		d.UseNumber()
		var v any
		return v, d.Decode(&v)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		got, ok := lastValues(doc)
		if ok != json.Valid([]byte(doc)) {
			t.Fatalf("%q: ok %v", doc, ok)
		}
		if !ok {
			return
		}
		want, _ := decode(doc)
		have, err := decode(got.(string))
		if err != nil || !reflect.DeepEqual(have, want) {
			t.Fatalf("%q: json_last %q reads %v, %v; want %v", doc, got, have, err, want)
		}
		if again, _ := lastValues(got.(string)); again != got {
			t.Fatalf("%q: json_last %q, then %q", doc, got, again)
		}
	})
}
