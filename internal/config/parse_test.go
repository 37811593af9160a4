package config

import (
	"errors"
	"testing"
)

// A value yaml cannot decode, an unknown key or a repeated one is a
// FieldError naming the key, as Validate's errors do, with the line.
func TestParseNamesTheKey(t *testing.T) {
	for _, c := range []struct {
		yaml string
		want []string // the errors, in order
	}{
		{"speed:\n  recent_event: 20\n", []string{"config speed.recent_event: is not a known key (line 2)"}},
		{"speed:\n  checkpoint_interval: 30\n", []string{`config speed.checkpoint_interval: "30" is not a duration such as 30s, 10m or 24h (line 2)`}},
		{"speed: {dedupe_window: 1d}\n", []string{`config speed.dedupe_window: "1d" is not a duration such as 30s, 10m or 24h (line 1)`}},
		{"kafka:\n  partitions: eight\n", []string{`config kafka.partitions: "eight" is not a whole number (line 2)`}},
		{"workspaces:\n  - id: a\n    write_keys: wk_0123456789abcdef\n", []string{`config workspaces[0].write_keys: "wk_0123456789abcdef" is not a list (line 3)`}},
		{"http:\n  addr: a\n  addr: b\n", []string{"config http.addr: is given twice, at lines 2 and 3"}},
		{"speed:\n  - a\n", []string{"config speed: a list is not a mapping (line 2)"}},
		{"http: {addr: [a]}\n", []string{"config http.addr: a list is not a string (line 1)"}},
		{"speed: {caps: {email: x, phone: many_user_ids}}\n", []string{
			`config speed.caps.email: "x" is not a whole number (line 1)`,
			`config speed.caps.phone: "many_user_ids" is not a whole number (line 1)`}},
		// Through an inline struct and a list of lists.
		{"identity: {model: {threshold: high}}\n", []string{`config identity.model.threshold: "high" is not a number (line 1)`}},
		{"identity:\n  model:\n    blocking_rules: [email]\n", []string{`config identity.model.blocking_rules[0]: "email" is not a list (line 3)`}},
		{"workspaces:\n  - id: a\n    api_keys:\n      - {name: x, role: [admin]}\n", []string{`config workspaces[0].api_keys[0].role: a list is not a string (line 4)`}},
		{"speed:\n  foo: 1\n  bar: 2\n", []string{
			"config speed.foo: is not a known key (line 2)",
			"config speed.bar: is not a known key (line 3)"}},
		// Two values alike on a line: which one yaml meant is not clear.
		{"speed: {caps: {email: x, phone: x}}\n", []string{
			"line 1: cannot unmarshal !!str `x` into int",
			"line 1: cannot unmarshal !!str `x` into int"}},
	} {
		_, err := Parse([]byte(c.yaml))
		var errs []error
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		}
		if len(errs) != len(c.want) {
			t.Errorf("%q: %v, want %q", c.yaml, err, c.want)
			continue
		}
		for i, e := range errs {
			var fe *FieldError
			if e.Error() != c.want[i] || errors.As(e, &fe) != (c.want[i][:7] == "config ") {
				t.Errorf("%q: error %d is %q (%T), want %q", c.yaml, i, e, e, c.want[i])
			}
		}
	}
	// Other YAML errors are yaml's, said to come from parsing.
	if _, err := Parse([]byte("speed: [\n")); err == nil || err.Error()[:13] != "parse config:" {
		t.Errorf("a syntax error: %v", err)
	}
}

// FuzzParse: any bytes parse or fail with a message; the errors that name
// a key name one the document has.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"speed:\n  recent_event: 20\n", "speed: {caps: {email: x, phone: y}}\n", "http:\n  addr: a\n  addr: b\n",
		"workspaces:\n  - id: a\n    write_keys: [wk_0123456789abcdef]\n    api_keys: {name: x}\n", "speed:\n  - a\n", "speed: [\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := Parse(b)
		if err == nil {
			return
		}
		if err.Error() == "" {
			t.Fatal("an error without a message")
		}
		var fe *FieldError
		if errors.As(err, &fe) && fe.Key == "" {
			t.Fatalf("%v: names no key", err)
		}
	})
}
