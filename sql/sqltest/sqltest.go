// Package sqltest puts DuckDB-built fixtures into a lake and reads lake
// tables back with DuckDB, for the tests of the batch jobs.
package sqltest

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/tributary-cdp/tributary/lake"
	tsql "github.com/tributary-cdp/tributary/sql"
)

// Commit writes the rows of a DuckDB query as one Parquet file at key (in
// workspace "default") and commits it to table with the given offsets.
func Commit(tb testing.TB, st lake.Storage, table, key, query string, offsets map[int32]int64) {
	tb.Helper()
	ctx := context.Background()
	s, err := tsql.Open(ctx, tsql.DefaultConfig())
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	p := filepath.Join(tb.TempDir(), "f.parquet")
	if err := s.Exec(ctx, "COPY ("+query+") TO "+tsql.QuoteLiteral(p)+" (FORMAT parquet)"); err != nil {
		tb.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := st.Put(ctx, key, f); err != nil {
		tb.Fatal(err)
	}
	if _, err := lake.Commit(ctx, st, table, lake.CommitInfo{Job: "test"}, func(m *lake.Manifest) error {
		m.Files = []lake.File{{Path: key, Workspace: "default"}}
		m.Offsets = offsets
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
}

// Rows runs query over the committed files of table, seen as the view
// named view, and returns its rows as text (NULL as "").
func Rows(tb testing.TB, st lake.Storage, table, view, query string) [][]string {
	tb.Helper()
	ctx := context.Background()
	files, err := lake.CommittedFiles(ctx, st, table)
	if err != nil {
		tb.Fatal(err)
	}
	keys := make([]string, len(files))
	for i, f := range files {
		keys[i] = f.Path
	}
	s, err := tsql.Open(ctx, tsql.DefaultConfig())
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	paths, err := tsql.LocalPaths(ctx, st, keys, tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.CreateParquetView(ctx, view, paths); err != nil {
		tb.Fatal(err)
	}
	rows, err := s.Query(ctx, query)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			tb.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = v.String
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}
