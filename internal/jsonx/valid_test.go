package jsonx

import (
	"encoding/json"
	"strings"
	"testing"
)

var cases = []string{
	`{"":"","":"","":"e29","tim\`, // found by FuzzDecodeCanonical: goccy read past it
	`{"a":"\`, `"\`, `"\u12`, `"\u12g4"`, `{"a":1,}`, `[1,]`, `[1 2]`, `{"a" 1}`, `{"a":}`,
	`01`, `-`, `1.`, `1e`, `1e+`, `.5`, `tru`, `nul`, `"a` + "\x01" + `"`, `{`, `[`, `}`, ``, ` `,
	`{"a":1}x`, `{"a":1} {"b":2}`,
	`{}`, `[]`, `""`, `0`, `-0.5e+10`, `true`, `null`, ` {"a":[1,{"b":"\u00e9\n"}],"c":false} `,
	`"abcdefghijklmno\u00e9pqrstuvwxyz\"0123456789"`, `"abcdefgh` + "\x01" + `ijklmnop"`, `"abcdefghijklmnopq\x"`, "\"abcdefgh\xc3\xa9ijklmnopq\"",
	`"abcdefghijklmnopqrstuvw\"`, `"abcdefg"` + strings.Repeat(" ", 9),
	strings.Repeat("[", 100) + strings.Repeat("]", 100), // deeper than the fast path: encoding/json decides
	strings.Repeat("[", 100) + strings.Repeat("]", 99),
}

func TestCheckAgreesWithEncodingJSON(t *testing.T) {
	for _, c := range cases {
		err := Check([]byte(c))
		if want := json.Valid([]byte(c)); (err == nil) != want {
			t.Errorf("Check(%q) = %v, encoding/json.Valid = %v", c, err, want)
		}
	}
}

func TestCheckSaysWhere(t *testing.T) {
	err := Check([]byte(`{"":"","":"","":"e29","tim\`))
	if err == nil || !strings.Contains(err.Error(), "at byte") {
		t.Fatalf("Check = %v, want the offset", err)
	}
}

func FuzzCheck(f *testing.F) {
	for _, c := range cases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if err, want := Check(b), json.Valid(b); (err == nil) != want {
			t.Fatalf("Check(%q) = %v, encoding/json.Valid = %v", b, err, want)
		}
	})
}
