package cleanse

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tributary-cdp/tributary/batch/ingest"
	"github.com/tributary-cdp/tributary/lake"
	tsql "github.com/tributary-cdp/tributary/sql"
)

// fieldKind says how a CRM field is cleansed: by its identifier type, else
// by its canonical name.
func fieldKind(f ingest.Field) string {
	if f.Identifier != "" {
		return "identifier"
	}
	n := f.Name
	switch {
	case n == "email" || strings.HasSuffix(n, "_email"):
		return "email"
	case n == "phone" || n == "mobile" || strings.HasPrefix(n, "phone"):
		return "phone"
	case n == "dob" || n == "birth_date" || n == "date_of_birth" || n == "birthday":
		return "date"
	case n == "postcode" || n == "zip" || n == "zip_code" || n == "postal_code":
		return "postcode"
	case strings.HasSuffix(n, "_name") || n == "name" || n == "surname" || n == "city" || n == "street" || strings.HasPrefix(n, "address"):
		return "name"
	}
	return ""
}

// cleanseSource writes clean/<source> and quarantine/<source>_values of one
// profile source. Column names come from the validated source definition
// and are quoted as identifiers; values are bound.
func cleanseSource(ctx context.Context, s *tsql.Session, st lake.Storage, cfg Config, spool string, src *ingest.Source, runID string, rep *Report) error {
	if src.Kind != ingest.KindProfiles {
		return nil
	}
	files, err := lake.CommittedFiles(ctx, st, src.Table())
	if err != nil && !lake.IsNotExist(err) {
		return fmt.Errorf("cleanse: list %s: %w", src.Table(), err)
	}
	if len(files) == 0 {
		return nil
	}
	keys := make([]string, len(files))
	for i, f := range files {
		keys[i] = f.Path
	}
	paths, err := tsql.LocalPaths(ctx, st, keys, cfg.CacheDir)
	if err != nil {
		return fmt.Errorf("cleanse: fetch %s: %w", src.Table(), err)
	}
	if err := cleanseSourceRows(ctx, s, src, paths, cfg.Now().UTC(), rep); err != nil {
		return err
	}
	who := lake.CommitInfo{Job: "cleanse", RunID: runID}
	if _, err := writeTable(ctx, s, st, spool, sourceCleanTable(src), "cl_src_clean", "ALL", runID, nil, who); err != nil {
		return err
	}
	_, err = writeTable(ctx, s, st, spool, sourceValuesTable(src), "cl_src_quarantine", "ALL", runID, nil, who)
	return err
}

// sourceCleanTable and sourceValuesTable are the tables cleanse writes of a
// profile source.
func sourceCleanTable(src *ingest.Source) string { return lake.ZoneClean + "/" + src.Name }
func sourceValuesTable(src *ingest.Source) string {
	return lake.ZoneQuarantine + "/" + src.Name + "_values"
}

// cleanseSourceRows builds, from the raw/<source> files at paths, the temp
// tables cl_src_clean and cl_src_quarantine: the rows of clean/<source> and
// quarantine/<source>_values.
func cleanseSourceRows(ctx context.Context, s *tsql.Session, src *ingest.Source, paths []string, now time.Time, rep *Report) error {
	if err := s.CreateParquetView(ctx, "cl_src_raw", paths); err != nil {
		return fmt.Errorf("cleanse: read %s: %w", src.Table(), err)
	}
	cols, err := s.Columns(ctx, "cl_src_raw")
	if err != nil {
		return fmt.Errorf("cleanse: read %s: %w", src.Table(), err)
	}
	have := map[string]bool{}
	var data []string // columns that make a row's content (not where it was read)
	for _, c := range cols {
		have[c.Name] = true
		if c.Name != ingest.ColFile && c.Name != ingest.ColLine && c.Name != ingest.ColIngestedAt && c.Name != "workspace" && c.Name != "date" {
			data = append(data, tsql.QuoteIdent(c.Name))
		}
	}
	sort.Strings(data)
	// Exact duplicates: the same content read twice (another file, another
	// line) keeps its first reading. Duplicates are rare: the contents read
	// more than once are found by hash first, and only their rows go
	// through the window that sorts whole rows.
	content := strings.Join(data, ", ")
	q := `CREATE OR REPLACE TEMP TABLE cl_src AS
		WITH h AS (SELECT *, hash(` + content + `) AS _h FROM cl_src_raw),
		d AS (SELECT _h FROM h GROUP BY _h HAVING count(*) > 1)
		SELECT * EXCLUDE (_h) FROM h ANTI JOIN d USING (_h)
		UNION ALL
		SELECT * EXCLUDE (_h) FROM (SELECT * FROM h SEMI JOIN d USING (_h))
		QUALIFY row_number() OVER (PARTITION BY ` + content + ` ORDER BY ` +
		tsql.QuoteIdent(ingest.ColIngestedAt) + `, ` + tsql.QuoteIdent(ingest.ColFile) + `, ` + tsql.QuoteIdent(ingest.ColLine) + `) = 1`
	if err := s.Exec(ctx, q); err != nil {
		return fmt.Errorf("cleanse: dedupe %s: %w", src.Name, err)
	}
	var raw, kept int64
	if err := s.QueryRow(ctx, "SELECT (SELECT count(*) FROM cl_src_raw), (SELECT count(*) FROM cl_src)").Scan(&raw, &kept); err != nil {
		return fmt.Errorf("cleanse: count %s: %w", src.Name, err)
	}
	rep.SourceRows += kept
	rep.SourceDuplicates += raw - kept

	// The values of the cleansed fields: each field's raw text with how it
	// is cleansed (kind, identifier type), as SQL literals from the
	// validated source definition.
	type value struct{ field, kind, typ, col, raw string }
	var vals []value
	for _, f := range src.Fields {
		kind := fieldKind(f)
		if kind == "" || !have[f.Name] {
			continue
		}
		col := tsql.QuoteIdent(f.Name)
		vals = append(vals, value{tsql.QuoteLiteral(f.Name), tsql.QuoteLiteral(kind), tsql.QuoteLiteral(f.Identifier), col, "CAST(r." + col + " AS VARCHAR)"})
	}
	// Every distinct value is judged once (cleanse_source.sql): the Go
	// functions behind identifiers, emails and phones cost a cgo round trip
	// per call, and names, cities and dates repeat.
	var union []string
	for _, v := range vals {
		union = append(union, "SELECT "+v.kind+" AS kind, "+v.typ+" AS id_type, "+v.raw+" AS raw FROM cl_src r")
	}
	if len(union) == 0 {
		union = []string{"SELECT NULL::VARCHAR AS kind, NULL::VARCHAR AS id_type, NULL::VARCHAR AS raw WHERE false"}
	}
	if err := s.Exec(ctx, "CREATE OR REPLACE TEMP TABLE cl_src_vals AS SELECT DISTINCT kind, id_type, raw FROM ("+
		strings.Join(union, "\nUNION ALL\n")+") WHERE raw IS NOT NULL AND trim(raw) <> ''"); err != nil {
		return fmt.Errorf("cleanse: %s: %w", src.Name, err)
	}
	if err := s.Run(ctx, "cleanse_source.sql", map[string]any{"ws": src.Workspace}); err != nil {
		return fmt.Errorf("cleanse: %s: %w", src.Name, err)
	}
	// Cleansed values replace the raw ones, rejected values become NULL:
	// one LEFT JOIN per field with the accepted verdicts of its kind (a
	// pivot of one row per value, 936k rows at 1M customers, cost more).
	var joins, repl []string
	for i, v := range vals {
		alias := fmt.Sprintf("v%d", i)
		joins = append(joins, fmt.Sprintf("LEFT JOIN (SELECT raw, value FROM cl_src_verdicts WHERE kind = %s AND id_type = %s AND reason IS NULL) %s ON %s.raw = %s",
			v.kind, v.typ, alias, alias, v.raw))
		repl = append(repl, alias+".value AS "+v.col)
	}
	sel := "r.*"
	if len(repl) > 0 {
		sel = "r.* REPLACE (" + strings.Join(repl, ", ") + ")"
	}
	ws := ""
	if !have["workspace"] {
		ws = ", " + tsql.QuoteLiteral(src.Workspace) + " AS workspace"
	}
	if err := s.Exec(ctx, "CREATE OR REPLACE TEMP TABLE cl_src_clean AS SELECT "+sel+ws+" FROM cl_src r\n"+strings.Join(joins, "\n")); err != nil {
		return fmt.Errorf("cleanse: %s: %w", src.Name, err)
	}
	// Rejected values with where they were read: the few rejected verdicts
	// are the build side of one join per field.
	var bad []string
	for _, v := range vals {
		bad = append(bad, "SELECT r."+tsql.QuoteIdent(ingest.ColFile)+" AS _file, r."+tsql.QuoteIdent(ingest.ColLine)+" AS _line, "+
			v.field+" AS field, "+v.kind+" AS kind, "+v.typ+" AS id_type, "+v.raw+" AS raw FROM cl_src r")
	}
	if len(bad) == 0 {
		bad = []string{"SELECT NULL::VARCHAR AS _file, NULL::BIGINT AS _line, NULL::VARCHAR AS field, NULL::VARCHAR AS kind, NULL::VARCHAR AS id_type, NULL::VARCHAR AS raw WHERE false"}
	}
	if err := s.Exec(ctx, `CREATE OR REPLACE TEMP TABLE cl_src_quarantine AS
		SELECT $ws AS workspace, i._file, i._line, i.field, i.raw AS value, b.reason, $now::TIMESTAMP AS quarantined_at
		FROM (`+strings.Join(bad, "\nUNION ALL\n")+`) i
		JOIN (SELECT kind, id_type, raw, reason FROM cl_src_verdicts WHERE reason IS NOT NULL) b USING (kind, id_type, raw)`,
		tsql.Named("ws", src.Workspace), tsql.Named("now", now)); err != nil {
		return fmt.Errorf("cleanse: %s: %w", src.Name, err)
	}
	rows, err := s.Query(ctx, "SELECT reason, count(*) FROM cl_src_quarantine GROUP BY 1")
	if err != nil {
		return fmt.Errorf("cleanse: %s: %w", src.Name, err)
	}
	for rows.Next() {
		var r string
		var n int64
		if err := rows.Scan(&r, &n); err != nil {
			rows.Close()
			return fmt.Errorf("cleanse: %s: %w", src.Name, err)
		}
		rep.Reasons[r] += n
		rep.Quarantined += n
	}
	rows.Close()
	return rows.Err()
}
