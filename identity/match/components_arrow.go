//go:build duckdb_arrow

package match

import (
	"context"
	"database/sql/driver"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/tributary-cdp/tributary/identity"
	tsql "github.com/tributary-cdp/tributary/sql"
)

// ComponentsArrow is ComponentsGo fed by Arrow record batches instead of
// database/sql rows. It needs duckdb-go's duckdb_arrow build tag
// (`go test -tags duckdb_arrow -bench Components ./identity/match`).
func ComponentsArrow(ctx context.Context, s *tsql.Session, n int) ([]int, error) {
	u := identity.NewUnionFind(n)
	err := s.Conn().Raw(func(dc any) error {
		ar, err := duckdb.NewArrowFromConn(dc.(driver.Conn))
		if err != nil {
			return err
		}
		rr, err := ar.QueryContext(ctx, "SELECT l::BIGINT AS l, r::BIGINT AS r FROM fs_cc_edges")
		if err != nil {
			return err
		}
		defer rr.Release()
		for rr.Next() {
			rec := rr.RecordBatch()
			ls := rec.Column(0).(*array.Int64).Int64Values()
			rs := rec.Column(1).(*array.Int64).Int64Values()
			for i := range ls {
				u.Union(int(ls[i]), int(rs[i]))
			}
		}
		return rr.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("read edges through arrow: %w", err)
	}
	return u.Labels(), nil
}
