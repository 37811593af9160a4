package lake

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// RowGroupRows is the number of rows per Parquet row group (the last
// group of a file may be smaller).
const RowGroupRows = 250_000

// codec is shared by every writer so they share its pool of zstd
// encoders (each holds megabytes of history; one pool per file would
// multiply them by the number of open files).
var codec = &zstd.Codec{Level: zstd.SpeedFastest}

// WriterOptions are the Parquet settings every lake file uses: zstd (its
// fastest level: a quarter of the land job's CPU went to level 3) and
// row groups of RowGroupRows.
func WriterOptions() []parquet.WriterOption {
	return []parquet.WriterOption{
		parquet.Compression(codec),
		parquet.MaxRowsPerRowGroup(RowGroupRows),
		parquet.CreatedBy("tributary", "", ""),
	}
}

// Writer writes one Parquet file into a local spool file; Commit puts it
// into the lake. T is the row type (a struct with parquet tags), or any
// with an explicit schema and WriteRows.
type Writer[T any] struct {
	f        *os.File
	pw       *parquet.GenericWriter[T]
	rows     int64
	optional []optionalField // T's fields whose zero value is NULL
}

// NewWriter starts a file in spoolDir ("" = the OS temp dir). schema may
// be nil to derive it from T.
func NewWriter[T any](spoolDir string, schema *parquet.Schema) (*Writer[T], error) {
	f, err := os.CreateTemp(spoolDir, "tributary-*.parquet")
	if err != nil {
		return nil, fmt.Errorf("create spool file: %w", err)
	}
	opts := WriterOptions()
	if schema != nil {
		opts = append(opts, schema)
	}
	return &Writer[T]{f: f, pw: parquet.NewGenericWriter[T](f, opts...), optional: optionalFields(reflect.TypeFor[T]())}, nil
}

// Write appends rows.
//
// parquet-go (v0.32.0) can store NULLs of an optional non-pointer field
// (a string tagged optional) as zero values: within a piece of 64 rows
// (GenericWriter.Write writes a batch 64 rows at a time, and cuts a piece
// short where a row group ends), after a null row p-1 and present rows
// p..2p-1, it takes every later row of the piece as present (in
// writeRowsFuncOfOptional, `b == (1<<uint64(y))-1` is meant as "all bits
// from y on are set"), so nulls after them are written as "". Write hands
// parquet-go those pieces itself, and writes a piece that has the pattern
// one row at a time (one row cannot have it). Drop this once parquet-go
// tests "all bits from y on": ^uint64(0)>>y.
func (w *Writer[T]) Write(rows ...T) error {
	for len(rows) > 0 {
		k := min(len(rows), maxRowsPerWrite, RowGroupRows-int(w.rows%RowGroupRows))
		piece := rows[:k]
		rows = rows[k:]
		if !misnulled(w.optional, piece) {
			if err := w.write(piece); err != nil {
				return err
			}
			continue
		}
		for i := range piece {
			if err := w.write(piece[i : i+1]); err != nil {
				return err
			}
		}
	}
	return nil
}

// maxRowsPerWrite is the piece size of parquet-go's GenericWriter.Write.
const maxRowsPerWrite = 64

func (w *Writer[T]) write(rows []T) error {
	n, err := w.pw.Write(rows)
	w.rows += int64(n)
	if err != nil {
		return fmt.Errorf("write parquet rows: %w", err)
	}
	return nil
}

// optionalField is a non-pointer field tagged optional: parquet-go stores
// its zero value as NULL.
type optionalField struct {
	offset, size uintptr
	str          bool
}

func (f optionalField) null(row unsafe.Pointer) bool {
	p := unsafe.Add(row, f.offset)
	if f.str {
		return len(*(*string)(p)) == 0
	}
	for _, b := range unsafe.Slice((*byte)(p), f.size) {
		if b != 0 {
			return false
		}
	}
	return true
}

func optionalFields(t reflect.Type) []optionalField {
	if t.Kind() != reflect.Struct {
		return nil
	}
	var fs []optionalField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || !slices.Contains(strings.Split(f.Tag.Get("parquet"), ",")[1:], "optional") {
			continue
		}
		switch f.Type.Kind() {
		case reflect.String:
			fs = append(fs, optionalField{offset: f.Offset, str: true})
		case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
			fs = append(fs, optionalField{offset: f.Offset, size: f.Type.Size()})
		}
	}
	return fs
}

// misnulled reports whether parquet-go would write some NULL of a piece
// (at most 64 rows) as a zero value: some field has a null row p-1,
// present rows p..2p-1 and only nulls after them, with at least one.
func misnulled[T any](fields []optionalField, piece []T) bool {
	n := len(piece)
	for _, f := range fields {
		null := func(i int) bool { return f.null(unsafe.Pointer(&piece[i])) }
		for p := 1; 2*p < n; p++ {
			if !null(p-1) || null(p) {
				continue
			}
			match := true
			for i := p; i < n && match; i++ {
				match = null(i) == (i >= 2*p)
			}
			if match {
				return true
			}
		}
	}
	return false
}

// WriteRows appends rows in the writer's schema.
func (w *Writer[T]) WriteRows(rows []parquet.Row) error {
	n, err := w.pw.WriteRows(rows)
	w.rows += int64(n)
	if err != nil {
		return fmt.Errorf("write parquet rows: %w", err)
	}
	return nil
}

// Rows is the number of rows written so far.
func (w *Writer[T]) Rows() int64 { return w.rows }

// Commit finishes the file and stores it under key. The spool file is
// removed whatever happens. It returns the file's entry for a manifest
// (Path, Rows, Bytes).
func (w *Writer[T]) Commit(ctx context.Context, st Storage, key string) (File, error) {
	defer w.Abort()
	if err := w.pw.Close(); err != nil {
		return File{}, fmt.Errorf("finish parquet %s: %w", key, err)
	}
	size, err := w.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return File{}, fmt.Errorf("finish parquet %s: %w", key, err)
	}
	if _, err := w.f.Seek(0, io.SeekStart); err != nil {
		return File{}, fmt.Errorf("finish parquet %s: %w", key, err)
	}
	if err := st.Put(ctx, key, io.NewSectionReader(w.f, 0, size)); err != nil {
		return File{}, err
	}
	return File{Path: key, Rows: w.rows, Bytes: size}, nil
}

// Abort discards the file. It is safe to call after Commit.
func (w *Writer[T]) Abort() {
	if w.f != nil {
		w.f.Close()
		os.Remove(w.f.Name())
		w.f = nil
	}
}

// OpenParquet opens a committed Parquet file. Local files are opened in
// place; remote ones are read into memory.
func OpenParquet(ctx context.Context, st Storage, key string) (*parquet.File, io.Closer, error) {
	if lp, ok := st.(LocalPather); ok {
		f, err := os.Open(lp.LocalPath(key))
		if err != nil {
			return nil, nil, fmt.Errorf("open parquet %s: %w", key, err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("open parquet %s: %w", key, err)
		}
		pf, err := parquet.OpenFile(f, fi.Size())
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("open parquet %s: %w", key, err)
		}
		return pf, f, nil
	}
	b, err := ReadObject(ctx, st, key)
	if err != nil {
		return nil, nil, fmt.Errorf("open parquet %s: %w", key, err)
	}
	pf, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, nil, fmt.Errorf("open parquet %s: %w", key, err)
	}
	return pf, io.NopCloser(nil), nil
}

// ReadAll reads every row of a committed Parquet file into T.
func ReadAll[T any](ctx context.Context, st Storage, key string) ([]T, error) {
	pf, c, err := OpenParquet(ctx, st, key)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	r := parquet.NewGenericReader[T](pf)
	defer r.Close()
	out := make([]T, 0, pf.NumRows())
	// parquet-go's reader allocates buffers for as many rows as buf holds:
	// 1,024 rows for a file of 10 allocated 7.8 MB (BenchmarkCompactSmallFiles:
	// 3.1 GB and 1.8–2.2 s an op; 100 MB and 0.15–0.18 s sized to the file).
	buf := make([]T, min(1024, max(pf.NumRows(), 1)))
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("read parquet %s: %w", key, err)
		}
	}
}

// ReadTable reads every committed row of table into T, file by file.
func ReadTable[T any](ctx context.Context, st Storage, table string) ([]T, error) {
	files, err := CommittedFiles(ctx, st, table)
	if err != nil {
		return nil, err
	}
	var out []T
	for _, f := range files {
		rows, err := ReadAll[T](ctx, st, f.Path)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}
