package ingest

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"golang.org/x/text/encoding/charmap"

	"github.com/tributary-cdp/tributary/internal/plural"
)

// record is one input row: where it is, its original text, and its
// values by column. err is set when the row itself is malformed.
type record struct {
	line int    // 1-based line where the row starts
	src  []byte // the row as it appears in the file (decoded to UTF-8), not copied
	get  func(column string) (string, bool)
	err  error
}

// raw is the row's original text, for quarantine.
func (r *record) raw() string { return string(r.src) }

// recordReader yields rows until io.EOF.
type recordReader interface {
	next() (*record, error)
}

// decode turns file bytes into UTF-8 text: Latin-1 is converted, a UTF-8
// byte order mark is dropped.
func decode(b []byte, encoding string) ([]byte, error) {
	if encoding == "latin-1" {
		out, err := charmap.Windows1252.NewDecoder().Bytes(b)
		if err != nil {
			return nil, fmt.Errorf("decode latin-1: %w", err)
		}
		b = out
	}
	return bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")), nil
}

// newRecordReader parses data (already decoded) in format f. columns are
// the columns the source reads; a CSV header missing one of them is an
// error for the whole file.
func newRecordReader(data []byte, f Format, columns []string) (recordReader, error) {
	switch f.Type {
	case "csv":
		return newCSVReader(data, f, columns)
	case "jsonl":
		return &jsonlReader{data: data}, nil
	case "json":
		return newJSONArrayReader(data)
	case "parquet":
		return newParquetReader(bytes.NewReader(data), int64(len(data)), columns)
	}
	return nil, fmt.Errorf("unknown format %q", f.Type)
}

// csvReader reads RFC 4180 CSV: quoted delimiters, quotes and newlines,
// CRLF or LF line ends.
type csvReader struct {
	data  []byte
	r     *csv.Reader
	index map[string]int // column → position
	ncols int            // columns in the header (0 without header)
}

func newCSVReader(data []byte, f Format, columns []string) (*csvReader, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.Comma = []rune(f.Delimiter)[0]
	r.FieldsPerRecord = -1
	c := &csvReader{data: data, r: r, index: map[string]int{}}
	if !f.HasHeader() {
		for _, col := range columns {
			n, err := strconv.Atoi(col)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("column %q: want a 1-based number for a file without header", col)
			}
			c.index[col] = n - 1
		}
		return c, nil
	}
	header, err := r.Read()
	if err == io.EOF {
		return nil, errors.New("the file is empty: no header row")
	}
	if err != nil {
		return nil, fmt.Errorf("read header row: %w", err)
	}
	c.ncols = len(header)
	norm := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		if _, dup := c.index[h]; !dup {
			c.index[h] = i
		}
		if _, dup := norm[strings.ToLower(h)]; !dup {
			norm[strings.ToLower(h)] = i
		}
	}
	var missing []string
	for _, col := range columns {
		if _, ok := c.index[col]; ok {
			continue
		}
		if i, ok := norm[strings.ToLower(strings.TrimSpace(col))]; ok {
			c.index[col] = i
			continue
		}
		missing = append(missing, col)
	}
	if len(missing) > 0 {
		return nil, &columnsError{where: "header row", missing: missing, have: header}
	}
	return c, nil
}

// columnsError is a file that lacks columns the fields read.
type columnsError struct {
	where   string   // "header row", "parquet file"
	missing []string // as the fields declare them
	have    []string
}

func (e *columnsError) Error() string {
	return fmt.Sprintf("%s has no column %s (it has %s)", e.where, quoteAll(e.missing), quoteAll(e.have))
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

func (c *csvReader) next() (*record, error) {
	start := c.r.InputOffset()
	fields, err := c.r.Read()
	if err == io.EOF {
		return nil, io.EOF
	}
	end := c.r.InputOffset()
	raw := bytes.TrimRight(c.data[start:end], "\r\n")
	rec := &record{src: raw}
	var pe *csv.ParseError
	if err != nil {
		if !errors.As(err, &pe) {
			return nil, err
		}
		rec.line, rec.err = pe.StartLine, fmt.Errorf("malformed CSV: %v", pe.Err)
		return rec, nil
	}
	rec.line, _ = c.r.FieldPos(0)
	if !utf8.Valid(raw) {
		rec.err = errors.New("invalid UTF-8 (is the file Latin-1? set format.encoding: latin-1)")
		return rec, nil
	}
	if c.ncols > 0 && len(fields) != c.ncols {
		rec.err = fmt.Errorf("row has %s, the header has %d", plural.Count(len(fields), "column"), c.ncols)
		return rec, nil
	}
	index := c.index
	rec.get = func(col string) (string, bool) {
		i, ok := index[col]
		if !ok || i >= len(fields) {
			return "", false
		}
		return fields[i], true
	}
	return rec, nil
}

// jsonlReader reads one JSON object per line.
type jsonlReader struct {
	data []byte
	off  int
	line int
}

func (j *jsonlReader) next() (*record, error) {
	for j.off < len(j.data) {
		end := bytes.IndexByte(j.data[j.off:], '\n')
		var lineB []byte
		if end < 0 {
			lineB, j.off = j.data[j.off:], len(j.data)
		} else {
			lineB, j.off = j.data[j.off:j.off+end], j.off+end+1
		}
		j.line++
		lineB = bytes.TrimRight(lineB, "\r")
		if len(bytes.TrimSpace(lineB)) == 0 {
			continue
		}
		rec := &record{line: j.line, src: lineB}
		if !utf8.Valid(lineB) {
			rec.err = errors.New("invalid UTF-8 (is the file Latin-1? set format.encoding: latin-1)")
			return rec, nil
		}
		obj, err := decodeObject(lineB)
		if err != nil {
			rec.err = err
			return rec, nil
		}
		rec.get = obj.get
		return rec, nil
	}
	return nil, io.EOF
}

type object map[string]any

func decodeObject(b []byte) (object, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("malformed JSON: %v", err)
	}
	if dec.More() {
		return nil, errors.New("malformed JSON: more than one value on the line")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("malformed JSON: want an object, got %s", jsonKind(v))
	}
	return m, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "an array"
	case string:
		return "a string"
	case nil:
		return "null"
	}
	return "a " + fmt.Sprintf("%T", v)
}

// get looks a key up, then a dotted path ("address.city").
func (o object) get(col string) (string, bool) {
	v, ok := o[col]
	if !ok {
		var cur any = map[string]any(o)
		for part := range strings.SplitSeq(col, ".") {
			m, isMap := cur.(map[string]any)
			if !isMap {
				return "", false
			}
			if cur, ok = m[part]; !ok {
				return "", false
			}
		}
		v = cur
	}
	return scalar(v), true
}

func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// jsonArrayReader reads a top-level array of objects.
type jsonArrayReader struct {
	data []byte
	dec  *json.Decoder
	n    int
}

func newJSONArrayReader(data []byte) (*jsonArrayReader, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("malformed JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, errors.New("malformed JSON: the file must hold an array of objects")
	}
	return &jsonArrayReader{data: data, dec: dec}, nil
}

func (j *jsonArrayReader) next() (*record, error) {
	if !j.dec.More() {
		return nil, io.EOF
	}
	start := j.dec.InputOffset()
	var raw json.RawMessage
	if err := j.dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("malformed JSON after element %d: %w", j.n, err)
	}
	j.n++
	line := 1 + bytes.Count(j.data[:start], []byte("\n"))
	rec := &record{line: line, src: bytes.TrimLeft(raw, " \t\r\n,")}
	obj, err := decodeObject(raw)
	if err != nil {
		rec.err = err
		return rec, nil
	}
	rec.get = obj.get
	return rec, nil
}

// parquetReader reads the rows of a Parquet file; columns are leaf
// paths joined by dots. line is the 1-based row number.
type parquetReader struct {
	groups []parquet.RowGroup
	rows   parquet.Rows
	names  []string
	index  map[string]int
	buf    []parquet.Row
	n      int
}

// Only the footer is read here: CheckHead opens large remote files so.
func newParquetReader(r io.ReaderAt, size int64, columns []string) (*parquetReader, error) {
	f, err := parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, fmt.Errorf("open parquet: %w", err)
	}
	p := &parquetReader{groups: f.RowGroups(), index: map[string]int{}, buf: make([]parquet.Row, 1)}
	for i, path := range f.Schema().Columns() {
		name := strings.Join(path, ".")
		p.names = append(p.names, name)
		p.index[name] = i
	}
	var missing []string
	for _, col := range columns {
		if _, ok := p.index[col]; !ok {
			missing = append(missing, col)
		}
	}
	if len(missing) > 0 {
		return nil, &columnsError{where: "parquet file", missing: missing, have: p.names}
	}
	return p, nil
}

func (p *parquetReader) next() (*record, error) {
	for {
		if p.rows == nil {
			if len(p.groups) == 0 {
				return nil, io.EOF
			}
			p.rows, p.groups = p.groups[0].Rows(), p.groups[1:]
		}
		n, err := p.rows.ReadRows(p.buf)
		if n == 0 {
			if err != nil && err != io.EOF {
				return nil, fmt.Errorf("read parquet row %d: %w", p.n+1, err)
			}
			p.rows.Close()
			p.rows = nil
			continue
		}
		p.n++
		vals := make([]string, len(p.names))
		set := make([]bool, len(p.names))
		for _, v := range p.buf[0] {
			if c := v.Column(); c >= 0 && c < len(vals) && !v.IsNull() {
				vals[c], set[c] = valueString(v), true
			}
		}
		var sb strings.Builder
		for i, name := range p.names {
			if set[i] {
				fmt.Fprintf(&sb, "%s=%q ", name, vals[i])
			}
		}
		rec := &record{line: p.n, src: []byte(strings.TrimSpace(sb.String()))}
		rec.get = func(col string) (string, bool) {
			i, ok := p.index[col]
			if !ok {
				return "", false
			}
			return vals[i], true
		}
		return rec, nil
	}
}

func valueString(v parquet.Value) string {
	switch v.Kind() {
	case parquet.ByteArray, parquet.FixedLenByteArray:
		return string(v.ByteArray())
	}
	return v.String()
}
