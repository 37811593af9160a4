package sql

import (
	"context"
	_ "embed"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/tributary-cdp/tributary/lake"
)

// View is one lake table exposed to DuckDB under an analyst-friendly name.
type View struct {
	Name  string   // events, profiles, identity_map, raw_<source>, clean_<t>, quarantine_<source>
	Table string   // lake table, e.g. "raw/events"
	Files []string // local paths DuckDB reads
	Rows  int64
	// Columns make the view of a table without files: no rows, the
	// columns its files would have.
	Columns []Column
}

// Column is a column of a view as DuckDB describes it.
type Column struct {
	Name, Type string
}

// lakeTables holds the columns of the tables the jobs write, as DuckDB
// reads their files (hive columns included), so that a table has a view
// before the job that writes it has run. Their schemas are the land job's
// row structs and the jobs' SQL, which only DuckDB can type: the file is
// generated from a lake the jobs wrote, by the test that compares it with
// that lake's views (see its header).
//
//go:embed lake_tables.tsv
var lakeTables string

// tableColumns are the columns of every table the jobs write, by table.
func tableColumns() map[string][]Column {
	m := map[string][]Column{}
	for _, l := range strings.Split(lakeTables, "\n") {
		if l == "" || strings.HasPrefix(l, "--") {
			continue
		}
		f := strings.Split(l, "\t")
		m[f[0]] = append(m[f[0]], Column{Name: f[1], Type: f[2]})
	}
	return m
}

// ViewName maps a lake table to its view: raw/events → events, curated/X →
// X, raw/X → raw_X, clean/X → clean_X, quarantine/X → quarantine_X.
func ViewName(table string) string {
	zone, name, _ := strings.Cut(table, "/")
	switch {
	case table == lake.TableEvents:
		return "events"
	case zone == lake.ZoneCurated:
		return name
	}
	return zone + "_" + name
}

// LakeTables lists the tables that have at least one committed manifest.
func LakeTables(ctx context.Context, st lake.Storage) ([]string, error) {
	prefix := lake.MetaPrefix + "manifests/"
	objs, err := st.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("list lake tables: %w", err)
	}
	seen := map[string]bool{}
	for _, o := range objs {
		rest := strings.TrimPrefix(o.Key, prefix)
		i := strings.LastIndexByte(rest, '/')
		if i <= 0 {
			continue
		}
		if t := rest[:i]; lake.ValidTable(t) == nil {
			seen[t] = true
		}
	}
	tables := make([]string, 0, len(seen))
	for t := range seen {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	return tables, nil
}

// LakeViews resolves every committed table of the lake to local files:
// in place for a local lake, downloaded into cacheDir for S3 (reused while
// the object's ETag is unchanged). A table the jobs write has an empty view
// (lake_tables.tsv) while it has no files; other tables without files (a
// source's before its first drop) are left out.
func LakeViews(ctx context.Context, st lake.Storage, cacheDir string) ([]View, error) {
	tables, err := LakeTables(ctx, st)
	if err != nil {
		return nil, err
	}
	known := tableColumns()
	for t := range known {
		if !slices.Contains(tables, t) {
			tables = append(tables, t)
		}
	}
	sort.Strings(tables)
	var views []View
	for _, t := range tables {
		files, err := lake.CommittedFiles(ctx, st, t)
		if err != nil {
			return nil, fmt.Errorf("read manifest of %s: %w", t, err)
		}
		v := View{Name: ViewName(t), Table: t}
		if len(files) == 0 {
			if v.Columns = known[t]; v.Columns != nil {
				views = append(views, v)
			}
			continue
		}
		keys := make([]string, len(files))
		for i, f := range files {
			keys[i] = f.Path
			v.Rows += f.Rows
		}
		if v.Files, err = LocalPaths(ctx, st, keys, cacheDir); err != nil {
			return nil, err
		}
		views = append(views, v)
	}
	return views, nil
}

// LocalPaths returns local paths holding the objects at keys: the files
// themselves on a local lake, copies in cacheDir (kept by ETag) otherwise.
func LocalPaths(ctx context.Context, st lake.Storage, keys []string, cacheDir string) ([]string, error) {
	out := make([]string, len(keys))
	for i, k := range keys {
		p, err := lake.LocalPath(ctx, st, k, cacheDir)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", k, err)
		}
		out[i] = p
	}
	return out, nil
}

// ViewStatement is the CREATE VIEW for v, readable by the duckdb CLI too.
// Paths come from the lake's own manifests and are quoted as literals.
func ViewStatement(v View) string {
	if len(v.Files) == 0 {
		cols := make([]string, len(v.Columns))
		for i, c := range v.Columns {
			cols[i] = "CAST(NULL AS " + c.Type + ") AS " + QuoteIdent(c.Name)
		}
		return fmt.Sprintf("CREATE OR REPLACE VIEW %s AS SELECT %s LIMIT 0", QuoteIdent(v.Name), strings.Join(cols, ", "))
	}
	quoted := make([]string, len(v.Files))
	for i, f := range v.Files {
		quoted[i] = QuoteLiteral(f)
	}
	return fmt.Sprintf("CREATE OR REPLACE VIEW %s AS SELECT * FROM read_parquet([%s], union_by_name = true)",
		QuoteIdent(v.Name), strings.Join(quoted, ", "))
}

// CreateEmptyTable creates the temp table name with the columns of the
// lake table (lake_tables.tsv) and no rows: what a job reads in place of a
// table that has no files yet, typed as the files would be.
func (s *Session) CreateEmptyTable(ctx context.Context, name, table string) error {
	cols := tableColumns()[table]
	if cols == nil {
		return fmt.Errorf("no columns known for lake table %s", table)
	}
	defs := make([]string, len(cols))
	for i, c := range cols {
		defs[i] = QuoteIdent(c.Name) + " " + c.Type
	}
	return s.Exec(ctx, fmt.Sprintf("CREATE OR REPLACE TEMP TABLE %s (%s)", QuoteIdent(name), strings.Join(defs, ", ")))
}

// CreateViews creates every view in the session.
func (s *Session) CreateViews(ctx context.Context, views []View) error {
	for _, v := range views {
		if err := s.Exec(ctx, ViewStatement(v)); err != nil {
			return fmt.Errorf("create view %s over %s: %w", v.Name, v.Table, err)
		}
	}
	return nil
}
