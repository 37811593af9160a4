package match

import (
	"context"
	"fmt"

	"github.com/tributary-cdp/tributary/identity"
	tsql "github.com/tributary-cdp/tributary/sql"
)

// ComponentsSQL labels the nodes of fs_cc_edges(l, r) by label propagation
// in DuckDB (fs_label_propagation.sql, fs_lp_step.sql): each round every
// node takes the smallest label around it, until nothing changes. It
// returns the number of rounds; labels are in fs_lp(id, label).
//
// It is the measured alternative to ComponentsGo (see
// BenchmarkComponents): rounds grow with the diameter of the components,
// each a join over all edges, so the Go union-find is the one the resolver
// uses.
func ComponentsSQL(ctx context.Context, s *tsql.Session) (int, error) {
	if err := s.Run(ctx, "fs_label_propagation.sql", nil); err != nil {
		return 0, fmt.Errorf("label propagation: %w", err)
	}
	for round := 1; ; round++ {
		if err := s.Run(ctx, "fs_lp_step.sql", nil); err != nil {
			return round, fmt.Errorf("label propagation round %d: %w", round, err)
		}
		var changed int64
		if err := s.QueryRow(ctx, "SELECT n FROM fs_lp_changed").Scan(&changed); err != nil {
			return round, fmt.Errorf("label propagation round %d: %w", round, err)
		}
		if changed == 0 {
			return round, nil
		}
	}
}

// ComponentsGo reads fs_cc_edges(l, r) over dense ids 0..n-1 into a Go
// union-find and returns each node's label (smallest id of its component).
func ComponentsGo(ctx context.Context, s *tsql.Session, n int) ([]int, error) {
	rows, err := s.Query(ctx, "SELECT l, r FROM fs_cc_edges")
	if err != nil {
		return nil, fmt.Errorf("read edges: %w", err)
	}
	defer rows.Close()
	u := identity.NewUnionFind(n)
	for rows.Next() {
		var l, r int64
		if err := rows.Scan(&l, &r); err != nil {
			return nil, fmt.Errorf("read edges: %w", err)
		}
		u.Union(int(l), int(r))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read edges: %w", err)
	}
	return u.Labels(), nil
}
