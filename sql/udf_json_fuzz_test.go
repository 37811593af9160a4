package sql

import (
	"encoding/json"
	"slices"
	"testing"

	gojson "github.com/goccy/go-json"
)

// FuzzJSONMembers checks the in-place reading against goccy/go-json, which
// it falls back to.
func FuzzJSONMembers(f *testing.F) {
	for _, s := range []string{`{"a": 1.50, "b":[1, {"c": null}]}`, `{"a":1,"a":2}`, `{"a\u0062":1}`, `{} x`, `{"a":1,}`, `[]`} {
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
			want = append(want, k+"="+string(v))
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
