package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
)

const (
	// maxHeadBytes bounds what CheckHead reads of a file; of a larger
	// Parquet file it reads the footer alone.
	maxHeadBytes = 1 << 20
	// maxHeadRows bounds the rows of the head it judges.
	maxHeadRows = 1000
)

// FileError is a drop that does not fit its source's definition: the key
// of the definition at fault, its value, and the rule the file breaks.
type FileError struct {
	Key   string // fields.<name>.column, fields.<name>.transforms, format.type
	Value string
	Rule  string
}

func (e *FileError) Error() string { return fmt.Sprintf("%s %q: %s", e.Key, e.Value, e.Rule) }

// CheckHead reads the head of the drop f at loc, as a run of src would
// read the file, and returns why the run would not ingest it: a column
// the fields read that the file lacks, a field whose transforms reject
// (or leave empty while required) the value of every row of the head, or
// rows that are all malformed; each a *FileError, several joined. rows
// is the number of rows judged, 0 for an empty file (or a Parquet file
// over maxHeadBytes, of which only the columns are checked). A definition
// is so checked before it is stored.
func CheckHead(ctx context.Context, loc Location, src *Source, f RemoteFile) (rows int, err error) {
	mp, err := newMapper(src)
	if err != nil {
		return 0, err
	}
	rc, err := loc.Open(ctx, f.Name)
	if err != nil {
		return 0, fmt.Errorf("open: %w", err)
	}
	defer rc.Close()
	if src.Format.Type == "parquet" && f.Size > maxHeadBytes {
		// Its columns are in the footer, at the end: read that alone
		// (files, SFTP and S3 objects all read at an offset).
		ra, ok := rc.(io.ReaderAt)
		if !ok {
			return 0, nil
		}
		_, err := newParquetReader(ra, f.Size, mp.columns)
		return 0, mp.columnErrors(err)
	}
	b, err := io.ReadAll(io.LimitReader(rc, maxHeadBytes+1))
	if err != nil {
		return 0, fmt.Errorf("read: %w", err)
	}
	cut := len(b) > maxHeadBytes
	if cut {
		b = b[:maxHeadBytes]
	}
	text, err := decode(b, src.Format.Encoding)
	if err != nil {
		return 0, err
	}
	rr, err := newRecordReader(text, src.Format, mp.columns)
	if err != nil {
		return 0, mp.columnErrors(err)
	}
	var recs []*record
	for len(recs) < maxHeadRows {
		rec, err := rr.next()
		if err == io.EOF || err != nil && cut { // a cut may end a JSON array mid-element
			break
		}
		if err != nil {
			return 0, err
		}
		recs = append(recs, rec)
	}
	if cut && len(recs) > 0 {
		recs = recs[:len(recs)-1] // it may be cut short
	}
	return len(recs), mp.checkRows(recs)
}

// columnErrors turns a file's missing columns (a *columnsError) into the
// fields that read them; other errors pass.
func (m *mapper) columnErrors(err error) error {
	var ce *columnsError
	if !errors.As(err, &ce) {
		return err
	}
	rule := fmt.Sprintf("the %s has no such column (it has %s)", ce.where, quoteAll(ce.have))
	switch m.src.Format.Type {
	case "csv":
		rule += "; a column is a name of the header row, matched ignoring case and spaces around it"
	case "parquet":
		rule += "; a column is a leaf column, a nested one by its path joined with dots"
	}
	var errs []error
	for _, fp := range m.fields {
		if slices.Contains(ce.missing, fp.f.Column) {
			errs = append(errs, &FileError{Key: "fields." + fp.f.Name + ".column", Value: fp.f.Column, Rule: rule})
		}
	}
	return errors.Join(errs...)
}

// checkRows judges the head's rows as a run maps them. A field is at fault
// when no row has its column (a JSON key, or a position past every row of
// a CSV file without header), or when it would quarantine every row: its
// transforms reject every value, or it is required and empty in every row.
func (m *mapper) checkRows(recs []*record) error {
	var good []*record
	for _, r := range recs {
		if r.err == nil {
			good = append(good, r)
		}
	}
	if len(good) == 0 {
		if len(recs) == 0 {
			return nil // nothing to judge
		}
		return &FileError{Key: "format.type", Value: m.src.Format.Type,
			Rule: fmt.Sprintf("every row is malformed in %s, as line %d: %v", FirstRows(len(recs)), recs[0].line, recs[0].err)}
	}
	head := FirstRows(len(good))
	var errs []error
	for i, fp := range m.fields {
		var present, failed, empty int
		var bad *record
		var badValue string
		var badErr error
		for _, r := range good {
			v, ok := r.get(fp.f.Column)
			if ok {
				present++
			}
			out, err := fp.p.apply(v)
			switch {
			case err != nil:
				if failed++; bad == nil {
					bad, badValue, badErr = r, v, err
				}
			case out == "":
				empty++
			}
		}
		key := "fields." + fp.f.Name
		required := fp.f.Required || i == m.tsField
		switch {
		case present == 0 && m.src.Format.Type == "csv":
			errs = append(errs, &FileError{Key: key + ".column", Value: fp.f.Column,
				Rule: fmt.Sprintf("there is no such column in %s; without a header row a column is a position, from 1", head)})
		case present == 0:
			errs = append(errs, &FileError{Key: key + ".column", Value: fp.f.Column,
				Rule: fmt.Sprintf("there is no such key in %s (the keys there are %s); a column is a key, or a dotted path into nested objects", head, objectKeys(good))})
		case failed == len(good):
			errs = append(errs, &FileError{Key: key + ".transforms", Value: badValue,
				Rule: fmt.Sprintf("line %d: %v; the transforms reject every value in %s: each row would be quarantined", bad.line, badErr, head)})
		case required && failed+empty == len(good):
			why := "the field is required"
			if i == m.tsField {
				why = "events need a time"
			}
			errs = append(errs, &FileError{Key: key + ".column", Value: fp.f.Column,
				Rule: fmt.Sprintf("empty throughout %s, and %s: each row would be quarantined", head, why)})
		}
	}
	return errors.Join(errs...)
}

// objectKeys lists the top-level keys of JSON records, sorted, at most 20.
func objectKeys(recs []*record) string {
	seen := map[string]bool{}
	for _, r := range recs {
		obj, _ := decodeObject(r.src)
		for k := range obj {
			seen[k] = true
		}
	}
	keys := slices.Sorted(maps.Keys(seen))
	if len(keys) > 20 {
		return quoteAll(keys[:20]) + ", …"
	}
	return quoteAll(keys)
}

// FirstRows names the head of a file: "the first row", "the first 12 rows".
func FirstRows(n int) string {
	if n == 1 {
		return "the first row"
	}
	return fmt.Sprintf("the first %d rows", n)
}
