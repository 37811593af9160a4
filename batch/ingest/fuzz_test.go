package ingest

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzCSVRecords feeds arbitrary bytes through decoding, the CSV record
// reader and the field mapping of the example source. Every row
// must either map or be quarantined with a reason; nothing may panic,
// loop or lose its place. Seeds: testdata/fuzz/FuzzCSVRecords and the
// fixtures.
func FuzzCSVRecords(f *testing.F) {
	for _, name := range []string{"crm_customers.csv", "crm_latin1.csv"} {
		if b, err := os.ReadFile("../../testdata/ingest/" + name); err == nil {
			f.Add(b, false)
		}
	}
	def, err := os.ReadFile("../../testdata/ingest/crm_customers.yaml")
	if err != nil {
		f.Fatal(err)
	}
	src, err := ParseSource(def)
	if err != nil {
		f.Fatal(err)
	}
	mp, err := newMapper(src)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte, latin1 bool) {
		enc := "utf-8"
		if latin1 {
			enc = "latin-1"
		}
		text, err := decode(data, enc)
		if err != nil {
			return
		}
		rr, err := newRecordReader(text, src.Format, mp.columns)
		if err != nil {
			if !strings.Contains(err.Error(), "header") {
				t.Fatalf("file-level error does not say what is wrong with the header: %v", err)
			}
			if ce := (*columnsError)(nil); errors.As(err, &ce) {
				namesKeys(t, mp.columnErrors(err))
			}
			return
		}
		// The head check (source add) judges the same records.
		var recs []*record
		defer func() { namesKeys(t, mp.checkRows(recs)) }()
		lastLine := 0
		for n := 0; ; n++ {
			if n > len(text)+1 {
				t.Fatalf("more records than bytes: the reader does not advance")
			}
			rec, err := rr.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("reader error on fuzz input: %v", err)
			}
			if rec.line <= lastLine {
				t.Fatalf("line %d after line %d", rec.line, lastLine)
			}
			lastLine = rec.line
			recs = append(recs, rec)
			if !strings.Contains(string(text), rec.raw()) {
				t.Fatalf("raw %q is not part of the input", rec.raw())
			}
			if rec.err != nil {
				if rec.err.Error() == "" {
					t.Fatal("quarantined without a reason")
				}
				continue
			}
			row, day, err := mp.row(rec, "2026-11-22", "f.csv", now)
			if err != nil {
				if err.Error() == "" {
					t.Fatal("rejected without a reason")
				}
				continue
			}
			if len(row) != mp.ncols || day != "2026-11-22" {
				t.Fatalf("row of %d columns for day %s", len(row), day)
			}
			for _, v := range row {
				if !v.IsNull() && v.Kind() == 6 /* ByteArray */ && !utf8.Valid(v.ByteArray()) {
					t.Fatalf("invalid UTF-8 landed: %q", v.ByteArray())
				}
			}
		}
	})
}

// namesKeys fails unless every error joined in err is a *FileError naming
// a key of the definition, the value there and a rule.
func namesKeys(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var fe *FileError
		if !errors.As(e, &fe) || !strings.HasPrefix(fe.Key, "fields.") && fe.Key != "format.type" || fe.Rule == "" {
			t.Fatalf("a head check error names no key of the definition and its rule: %v", e)
		}
	}
}

// FuzzParseSource: any definition parses or fails with a message; an
// error that names a key names one.
func FuzzParseSource(f *testing.F) {
	def, err := os.ReadFile("../../testdata/ingest/crm_customers.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(def)
	f.Add([]byte("name: x\nformat: csv\nformat: {delimeter: 1}\nfields: {a: {column: [b]}}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := ParseSource(b)
		if err == nil {
			return
		}
		var de *DefinitionError
		if err.Error() == "" || errors.As(err, &de) && de.Key == "" {
			t.Fatalf("%q: %v", b, err)
		}
	})
}
