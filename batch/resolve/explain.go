package resolve

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tributary-cdp/tributary/lake"
	tsql "github.com/tributary-cdp/tributary/sql"
)

// Explanation says why an identifier is in its profile.
type Explanation struct {
	Workspace, Type, Value string
	CDPID                  string
	// Members are the profile's identifiers ("type:value").
	Members []string
	// Edges are the recorded links among the members.
	Edges []ExplainedEdge
}

// ExplainedEdge is one link with its provenance.
type ExplainedEdge struct {
	A, B          string
	Rule, Source  string
	Record, RunID string
	Score         float64
	TS            time.Time
}

// Explain looks typ:value (normalized like everywhere else, in the phone
// region sqlCfg gives workspace) up in the committed identity map and returns its
// profile's members and the edges that link them.
func Explain(ctx context.Context, st lake.Storage, cacheDir string, sqlCfg tsql.Config, workspace, typ, value string) (*Explanation, error) {
	ex := &Explanation{Workspace: workspace, Type: typ, Value: sqlCfg.PhoneRegions.Normalize(workspace, typ, value)}
	s, err := tsql.Open(ctx, sqlCfg)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	for _, t := range []struct{ table, view string }{{TableIdentityMap, "x_map"}, {TableIdentityEdges, "x_edges"}} {
		files, err := lake.CommittedFiles(ctx, st, t.table)
		if err != nil && !lake.IsNotExist(err) {
			return nil, fmt.Errorf("explain: list %s: %w", t.table, err)
		}
		if len(files) == 0 && t.table == TableIdentityEdges {
			// A resolve run that linked nothing writes no edges.
			if err := s.CreateEmptyTable(ctx, t.view, t.table); err != nil {
				return nil, fmt.Errorf("explain: %w", err)
			}
			continue
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("explain: %s is empty; run the resolve job first", t.table)
		}
		keys := make([]string, len(files))
		for i, f := range files {
			keys[i] = f.Path
		}
		paths, err := tsql.LocalPaths(ctx, st, keys, cacheDir)
		if err != nil {
			return nil, fmt.Errorf("explain: fetch %s: %w", t.table, err)
		}
		if err := s.CreateParquetView(ctx, t.view, paths); err != nil {
			return nil, fmt.Errorf("explain: read %s: %w", t.table, err)
		}
	}
	err = s.QueryRow(ctx, `SELECT cdp_id FROM x_map WHERE workspace = $1 AND id_type = $2 AND id_value = $3`, workspace, typ, ex.Value).Scan(&ex.CDPID)
	if errors.Is(err, sql.ErrNoRows) {
		if types, err := mapTypes(ctx, s, workspace); err == nil && !slices.Contains(types, typ) {
			return nil, fmt.Errorf("explain: the identity map of workspace %s has no identifier of type %q (it has %s)", workspace, typ, strings.Join(types, ", "))
		}
		return nil, fmt.Errorf("explain: %s:%s is not in the identity map of workspace %s (which holds what the last resolve run linked: `cdpctl job run all` runs it)", typ, ex.Value, workspace)
	}
	if err != nil {
		return nil, fmt.Errorf("explain: look up %s:%s: %w", typ, ex.Value, err)
	}
	rows, err := s.Query(ctx, `SELECT id_type || ':' || id_value FROM x_map WHERE workspace = $1 AND cdp_id = $2 ORDER BY first_seen, 1`, workspace, ex.CDPID)
	if err != nil {
		return nil, fmt.Errorf("explain: members: %w", err)
	}
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			rows.Close()
			return nil, fmt.Errorf("explain: members: %w", err)
		}
		ex.Members = append(ex.Members, m)
	}
	rows.Close()
	rows, err = s.Query(ctx, `SELECT e.a_type || ':' || e.a_value, e.b_type || ':' || e.b_value, e.rule, e.source, e.record, e.run_id, e.score, e.ts
		FROM x_edges e
		JOIN x_map a ON a.workspace = e.workspace AND a.id_type = e.a_type AND a.id_value = e.a_value
		JOIN x_map b ON b.workspace = e.workspace AND b.id_type = e.b_type AND b.id_value = e.b_value
		WHERE e.workspace = $1 AND a.cdp_id = $2 AND b.cdp_id = $2
		ORDER BY e.ts, 1, 2`, workspace, ex.CDPID)
	if err != nil {
		return nil, fmt.Errorf("explain: edges: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e ExplainedEdge
		var ts *time.Time
		if err := rows.Scan(&e.A, &e.B, &e.Rule, &e.Source, &e.Record, &e.RunID, &e.Score, &ts); err != nil {
			return nil, fmt.Errorf("explain: edges: %w", err)
		}
		if ts != nil {
			e.TS = *ts
		}
		ex.Edges = append(ex.Edges, e)
	}
	return ex, rows.Err()
}

// mapTypes lists the identifier types of workspace's identity map: what
// explain can look up, for a type it has none of (emial).
func mapTypes(ctx context.Context, s *tsql.Session, workspace string) ([]string, error) {
	rows, err := s.Query(ctx, `SELECT DISTINCT id_type FROM x_map WHERE workspace = $1 ORDER BY 1`, workspace)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var types []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		types = append(types, t)
	}
	return types, rows.Err()
}
