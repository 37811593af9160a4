package resolve

import (
	"context"
	"database/sql/driver"
	"fmt"
	"sort"
	"strings"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/tributary-cdp/tributary/batch/ingest"
	"github.com/tributary-cdp/tributary/identity/match"
	"github.com/tributary-cdp/tributary/lake"
	tsql "github.com/tributary-cdp/tributary/sql"
)

// fieldAliases maps common canonical field names of CRM sources to the
// resolver's attributes (a field named like an attribute maps to it).
var fieldAliases = map[string]string{
	"given_name": "first_name", "firstname": "first_name", "surname": "last_name", "lastname": "last_name",
	"family_name": "last_name", "name": "full_name", "birth_date": "dob", "date_of_birth": "dob", "birthday": "dob",
	"zip": "postcode", "zip_code": "postcode", "postal_code": "postcode", "address": "street", "address_1": "street",
	"phone_number": "phone", "mobile": "phone", "sex": "gender", "ssn": "national_id",
}

// personFields returns the source's fields that carry person attributes.
func personFields(src *ingest.Source) map[string]string {
	out := map[string]string{}
	for _, f := range src.Fields {
		a := f.Name
		if al, ok := fieldAliases[a]; ok {
			a = al
		}
		if match.IsAttribute(a) {
			out[f.Name] = a
		}
	}
	return out
}

// probabilistic links CRM profile records that describe the same person
// without sharing an identifier: Fellegi–Sunter (package match) over every
// profile source with at least two person attributes, one workspace at a
// time. Each record is represented by its first identifier (by field name);
// edges between records the resolver put in one cluster are added to
// rs_edges with rule fellegi_sunter and the match probability as score.
func probabilistic(ctx context.Context, sess *tsql.Session, st lake.Storage, cacheDir string, sources []*ingest.Source, mcfg match.Config) (int64, error) {
	cols := make([]string, len(match.Attributes))
	for i, a := range match.Attributes {
		cols[i] = a + " VARCHAR"
	}
	if err := sess.Exec(ctx, "CREATE OR REPLACE TEMP TABLE rs_fs_rec (workspace VARCHAR, source VARCHAR, record VARCHAR, anchor_type VARCHAR, anchor_value VARCHAR, ts TIMESTAMP, "+strings.Join(cols, ", ")+")"); err != nil {
		return 0, fmt.Errorf("resolve: probabilistic records: %w", err)
	}
	for _, src := range sources {
		if src.Kind != ingest.KindProfiles {
			continue
		}
		attrs := personFields(src)
		ids := src.Identifiers()
		if len(attrs) < 2 || len(ids) == 0 {
			continue
		}
		files, err := lake.CommittedFiles(ctx, st, src.Table())
		if err != nil && !lake.IsNotExist(err) {
			return 0, fmt.Errorf("resolve: list %s: %w", src.Table(), err)
		}
		if len(files) == 0 {
			continue
		}
		keys := make([]string, len(files))
		for i, f := range files {
			keys[i] = f.Path
		}
		paths, err := tsql.LocalPaths(ctx, st, keys, cacheDir)
		if err != nil {
			return 0, fmt.Errorf("resolve: fetch %s: %w", src.Table(), err)
		}
		if err := sess.CreateParquetView(ctx, "rs_fs_src", paths); err != nil {
			return 0, fmt.Errorf("resolve: read %s: %w", src.Table(), err)
		}
		idFields := make([]string, 0, len(ids))
		for f := range ids {
			idFields = append(idFields, f)
		}
		sort.Strings(idFields)
		// The anchor: the first identifier field that has a valid value.
		var typs, vals []string
		for _, f := range idFields {
			v := "normalize_identifier($ws, " + tsql.QuoteLiteral(ids[f]) + ", CAST(" + tsql.QuoteIdent(f) + " AS VARCHAR))"
			typs = append(typs, "CASE WHEN "+v+" IS NOT NULL THEN "+tsql.QuoteLiteral(ids[f])+" END")
			vals = append(vals, v)
		}
		exprs := make([]string, len(match.Attributes))
		for i, a := range match.Attributes {
			exprs[i] = "NULL"
			for f, fa := range attrs {
				if fa == a {
					exprs[i] = "CAST(" + tsql.QuoteIdent(f) + " AS VARCHAR)"
				}
			}
		}
		q := `INSERT INTO rs_fs_rec SELECT $ws, $src, concat(_file, ':', _line), coalesce(` + strings.Join(typs, ", ") + `),
			coalesce(` + strings.Join(vals, ", ") + `), CAST(_ingested_at AS TIMESTAMP), ` + strings.Join(exprs, ", ") + ` FROM rs_fs_src`
		if err := sess.Exec(ctx, q, tsql.Named("ws", src.Workspace), tsql.Named("src", src.Name)); err != nil {
			return 0, fmt.Errorf("resolve: probabilistic records of %s: %w", src.Name, err)
		}
	}
	if err := sess.Exec(ctx, "DELETE FROM rs_fs_rec WHERE anchor_value IS NULL OR blocked_identifier(anchor_type, anchor_value)"); err != nil {
		return 0, fmt.Errorf("resolve: probabilistic records: %w", err)
	}
	var workspaces []string
	rows, err := sess.Query(ctx, "SELECT DISTINCT workspace FROM rs_fs_rec ORDER BY 1")
	if err != nil {
		return 0, fmt.Errorf("resolve: probabilistic workspaces: %w", err)
	}
	for rows.Next() {
		var w string
		if err := rows.Scan(&w); err != nil {
			rows.Close()
			return 0, fmt.Errorf("resolve: probabilistic workspaces: %w", err)
		}
		workspaces = append(workspaces, w)
	}
	rows.Close()
	if err := sess.Exec(ctx, "CREATE OR REPLACE TABLE rs_fs_edges (workspace VARCHAR, l BIGINT, r BIGINT, prob DOUBLE)"); err != nil {
		return 0, fmt.Errorf("resolve: probabilistic edges: %w", err)
	}
	for _, ws := range workspaces {
		if err := sess.Exec(ctx, `CREATE OR REPLACE TEMP TABLE rs_fs_ws AS
			SELECT row_number() OVER (ORDER BY source, record) - 1 AS id, * FROM rs_fs_rec WHERE workspace = $ws`, tsql.Named("ws", ws)); err != nil {
			return 0, fmt.Errorf("resolve: probabilistic records of %s: %w", ws, err)
		}
		if err := sess.Exec(ctx, "CREATE OR REPLACE TEMP TABLE fs_input AS SELECT id, 0 AS src, "+strings.Join(match.Attributes, ", ")+" FROM rs_fs_ws"); err != nil {
			return 0, fmt.Errorf("resolve: probabilistic input of %s: %w", ws, err)
		}
		r, err := match.New(sess, mcfg)
		if err != nil {
			return 0, err
		}
		res, err := r.Resolve(ctx, ws, false)
		if err != nil {
			return 0, fmt.Errorf("resolve: probabilistic matching in %s: %w", ws, err)
		}
		err = sess.Conn().Raw(func(dc any) error {
			a, err := duckdb.NewAppenderFromConn(dc.(driver.Conn), "", "rs_fs_edges")
			if err != nil {
				return err
			}
			for _, e := range res.Edges {
				// Only edges the chain guard kept inside one cluster.
				if res.Labels[e.A] != res.Labels[e.B] {
					continue
				}
				if err := a.AppendRow(ws, int64(e.A), int64(e.B), e.Prob); err != nil {
					a.Close()
					return err
				}
			}
			return a.Close()
		})
		if err != nil {
			return 0, fmt.Errorf("resolve: probabilistic edges of %s: %w", ws, err)
		}
		if err := sess.Exec(ctx, `INSERT INTO rs_fs_linked
			SELECT e.workspace, a.anchor_type, a.anchor_value, b.anchor_type, b.anchor_value, 'fellegi_sunter', e.prob,
				a.source || '|' || b.source, a.record || '|' || b.record, greatest(a.ts, b.ts)
			FROM rs_fs_edges e JOIN rs_fs_ws a ON a.id = e.l JOIN rs_fs_ws b ON b.id = e.r
			WHERE e.workspace = $ws AND NOT (a.anchor_type = b.anchor_type AND a.anchor_value = b.anchor_value)`, tsql.Named("ws", ws)); err != nil {
			return 0, fmt.Errorf("resolve: probabilistic edges of %s: %w", ws, err)
		}
	}
	var n int64
	err = sess.QueryRow(ctx, "SELECT count(*) FROM rs_fs_linked").Scan(&n)
	return n, err
}
