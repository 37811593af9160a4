package ingest

import (
	"fmt"
	"reflect"
	"time"
	"unsafe"

	"github.com/parquet-go/parquet-go"
)

// Columns every raw/<source> table has besides the canonical fields.
const (
	ColFile       = "_file"        // input file name
	ColLine       = "_line"        // line (row) number in the file
	ColIngestedAt = "_ingested_at" // when the run read it
)

// mapper turns input records into rows of the source's Parquet schema.
type mapper struct {
	src     *Source
	schema  *parquet.Schema
	columns []string // input columns read, in field order
	fields  []fieldPlan
	fileCol int
	lineCol int
	atCol   int
	tsField int // index of the timestamp field (events), -1 otherwise
	ncols   int
}

type fieldPlan struct {
	f   Field
	p   pipeline
	col int // leaf column index in the schema
}

// Schema returns the Parquet schema of raw/<source>: one optional column
// per field, in the order the definition declares them (STRING, DATE after
// parse_date, TIMESTAMP(µs) after parse_time), then _file, _line and
// _ingested_at. (A parquet.Group would sort the columns by name; a struct
// type built at runtime keeps the declared order.)
func (s *Source) Schema() (*parquet.Schema, error) {
	var fields []reflect.StructField
	add := func(name string, typ reflect.Type, tag string) {
		fields = append(fields, reflect.StructField{
			Name: fmt.Sprintf("F%d", len(fields)),
			Type: typ,
			Tag:  reflect.StructTag(fmt.Sprintf(`parquet:"%s"`, tag)),
		})
	}
	for _, f := range s.Fields {
		p, err := compileTransforms(f.Transforms)
		if err != nil {
			return nil, &DefinitionError{Source: s.Name, Key: "fields." + f.Name + ".transforms", Problem: err.Error()}
		}
		switch p.typ {
		case typeDate:
			add(f.Name, reflect.TypeFor[*time.Time](), f.Name+",date,optional")
		case typeTimestamp:
			add(f.Name, reflect.TypeFor[*time.Time](), f.Name+",timestamp(microsecond),optional")
		default:
			add(f.Name, reflect.TypeFor[string](), f.Name+",optional")
		}
	}
	add(ColFile, reflect.TypeFor[string](), ColFile)
	add(ColLine, reflect.TypeFor[int64](), ColLine)
	add(ColIngestedAt, reflect.TypeFor[time.Time](), ColIngestedAt+",timestamp(microsecond)")
	return parquet.NewSchema(s.Name, parquet.SchemaOf(reflect.New(reflect.StructOf(fields)).Interface())), nil
}

func newMapper(src *Source) (*mapper, error) {
	schema, err := src.Schema()
	if err != nil {
		return nil, err
	}
	idx := map[string]int{}
	for i, path := range schema.Columns() {
		idx[path[0]] = i
	}
	m := &mapper{src: src, schema: schema, fileCol: idx[ColFile], lineCol: idx[ColLine], atCol: idx[ColIngestedAt], tsField: -1, ncols: len(idx)}
	for i, f := range src.Fields {
		p, _ := compileTransforms(f.Transforms)
		m.fields = append(m.fields, fieldPlan{f: f, p: p, col: idx[f.Name]})
		m.columns = append(m.columns, f.Column)
		if src.Kind == KindEvents && f.Name == "timestamp" {
			m.tsField = i
		}
	}
	return m, nil
}

var epoch = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)

// row maps one record; the error is the reason to quarantine it. day is
// the partition: the event day for events, today for profiles.
func (m *mapper) row(rec *record, today, file string, now time.Time) (parquet.Row, string, error) {
	row := make(parquet.Row, m.ncols)
	day := today
	for i, fp := range m.fields {
		v, _ := rec.get(fp.f.Column)
		v, err := fp.p.apply(v)
		if err != nil {
			return nil, "", fmt.Errorf("field %s (column %q): %v", fp.f.Name, fp.f.Column, err)
		}
		if v == "" {
			if fp.f.Required {
				return nil, "", fmt.Errorf("field %s (column %q) is required but empty", fp.f.Name, fp.f.Column)
			}
			row[fp.col] = parquet.NullValue().Level(0, 0, fp.col)
			continue
		}
		var val parquet.Value
		switch fp.p.typ {
		case typeDate:
			t, err := time.Parse(time.DateOnly, v)
			if err != nil {
				return nil, "", fmt.Errorf("field %s (column %q): %q is not a date", fp.f.Name, fp.f.Column, clip(v))
			}
			val = parquet.Int32Value(int32(t.Sub(epoch).Hours() / 24))
		case typeTimestamp:
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return nil, "", fmt.Errorf("field %s (column %q): %q is not a time", fp.f.Name, fp.f.Column, clip(v))
			}
			val = parquet.Int64Value(t.UnixMicro())
			if i == m.tsField {
				day = t.UTC().Format(time.DateOnly)
			}
		default:
			// No copy: the writer copies the bytes into its column buffer.
			val = parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(v), len(v)))
		}
		row[fp.col] = val.Level(0, 1, fp.col)
	}
	if m.tsField >= 0 && row[m.fields[m.tsField].col].IsNull() {
		return nil, "", fmt.Errorf("field timestamp (column %q) is empty; events need a time", m.fields[m.tsField].f.Column)
	}
	row[m.fileCol] = parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(file), len(file))).Level(0, 0, m.fileCol)
	row[m.lineCol] = parquet.Int64Value(int64(rec.line)).Level(0, 0, m.lineCol)
	row[m.atCol] = parquet.Int64Value(now.UnixMicro()).Level(0, 0, m.atCol)
	return row, day, nil
}
