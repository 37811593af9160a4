package cdp

import "testing"

// ObjectFields is a fast path: it must say no to anything a JSON decoder
// would reject, so the general decoder (and its error) takes over.
func TestObjectFieldsTrailingBytes(t *testing.T) {
	for in, want := range map[string]bool{
		`{}`:              true,
		"{} \t\r\n":       true,
		`{"a":1}`:         true,
		"{\"a\":1}\n":     true,
		"{}\f":            false, // \f, \v and U+0085 are not JSON whitespace
		"{\"a\":1}\v":     false,
		"{\"a\":1}\u0085": false,
		"{\"a\":1}\u00a0": false,
		`{"a":1} x`:       false,
		`{"a":1}}`:        false,
		`{"a":1,}`:        false,
	} {
		if got := ObjectFields([]byte(in), func(string, []byte) bool { return true }); got != want {
			t.Errorf("ObjectFields(%q) = %v, want %v", in, got, want)
		}
	}
}
