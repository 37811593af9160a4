package lake

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

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
	f    *os.File
	pw   *parquet.GenericWriter[T]
	rows int64
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
	return &Writer[T]{f: f, pw: parquet.NewGenericWriter[T](f, opts...)}, nil
}

// Write appends rows.
func (w *Writer[T]) Write(rows ...T) error {
	n, err := w.pw.Write(rows)
	w.rows += int64(n)
	if err != nil {
		return fmt.Errorf("write parquet rows: %w", err)
	}
	return nil
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
	buf := make([]T, 1024)
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
