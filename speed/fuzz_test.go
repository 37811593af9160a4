package speed

import (
	"testing"
)

// FuzzPrepareApply feeds arbitrary Kafka values through the speed layer:
// it must never panic, and a value that is not a valid event must come
// back as a poison op (counted, skipped), not be applied.
func FuzzPrepareApply(f *testing.F) {
	for _, m := range session() {
		f.Add(m.value())
	}
	for _, s := range []string{
		`{}`, `null`, `[]`, `{"workspace":"w","messageId":"m","type":"identify","userId":"u","traits":[1,2]}`,
		`{"workspace":"w","messageId":"m","type":"track","userId":"u","event":"Order Completed","properties":{"revenue":"1e400"}}`,
		`{"workspace":"w","messageId":"m","type":"alias","userId":"u","previousId":"null"}`,
		`{"workspace":"w","messageId":"m","type":"identify","anonymousId":"a","traits":{"email":"A@B.CO","phone":4155552671}}`,
	} {
		f.Add([]byte(s))
	}
	cfg := DefaultStoreConfig()
	p := NewPreparer(cfg)
	f.Fuzz(func(t *testing.T, v []byte) {
		s, err := NewStore(cfg)
		if err != nil {
			t.Fatal(err)
		}
		o := p.Prepare(0, 0, v)
		s.Apply(o)
		st := s.Stats()
		if o.Err != nil && (st.Poison != 1 || st.Profiles != 0) {
			t.Fatalf("poison op applied: %+v", st)
		}
		if o.Err == nil && st.Poison != 0 {
			t.Fatalf("valid op counted as poison")
		}
	})
}
