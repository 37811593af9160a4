package cleanse

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/tributary-cdp/tributary/batch/ingest"
	"github.com/tributary-cdp/tributary/lake"
	"github.com/tributary-cdp/tributary/lake/local"
	tsql "github.com/tributary-cdp/tributary/sql"
)

// SourceTables are the lake tables a source's data goes to: raw/<source>
// and quarantine/<source> (ingest), and for a profile source
// clean/<source> and quarantine/<source>_values (this job).
func SourceTables(src *ingest.Source) []string {
	tables := []string{src.Table(), src.QuarantineTable()}
	if src.Kind == ingest.KindProfiles {
		tables = append(tables, sourceCleanTable(src), sourceValuesTable(src))
	}
	return tables
}

// SourceViews are the views of the SourceTables of srcs with no rows and
// the columns their files will have, so that a source can be queried
// before its first drop. The columns are those of files written for no
// rows by the code that writes the real ones: ingest's writers (into a
// scratch lake under dir, removed after) and, over them, this job's SQL.
func SourceViews(ctx context.Context, cfg tsql.Config, srcs []*ingest.Source, dir string) ([]tsql.View, error) {
	if len(srcs) == 0 {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("source views: %w", err)
	}
	scratch, err := os.MkdirTemp(dir, "tributary-source-views-")
	if err != nil {
		return nil, fmt.Errorf("source views: %w", err)
	}
	defer os.RemoveAll(scratch)
	st, err := local.New(scratch)
	if err != nil {
		return nil, fmt.Errorf("source views: %w", err)
	}
	s, err := tsql.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	icfg := ingest.DefaultConfig()
	icfg.Storage, icfg.SpoolDir = st, scratch
	var views []tsql.View
	for _, src := range srcs {
		if err := ingest.WriteEmpty(ctx, icfg, src); err != nil {
			return nil, fmt.Errorf("source %s: type its tables: %w", src.Name, err)
		}
		// Typed as `cdpctl sql` reads them: through its views.
		var rawPaths []string
		for _, table := range []string{src.Table(), src.QuarantineTable()} {
			files, err := lake.CommittedFiles(ctx, st, table)
			if err != nil {
				return nil, fmt.Errorf("source %s: type its tables: %w", src.Name, err)
			}
			v := tsql.View{Name: tsql.ViewName(table), Table: table}
			for _, f := range files {
				v.Files = append(v.Files, st.LocalPath(f.Path))
			}
			if table == src.Table() {
				rawPaths = v.Files
			}
			if err := s.CreateViews(ctx, []tsql.View{v}); err != nil {
				return nil, err
			}
			if v.Columns, err = s.Columns(ctx, v.Name); err != nil {
				return nil, err
			}
			v.Files = nil
			views = append(views, v)
		}
		if src.Kind != ingest.KindProfiles {
			continue
		}
		// The files of these tables are the export of the temp tables, whose
		// types Parquet keeps.
		if err := cleanseSourceRows(ctx, s, src, rawPaths, time.Now().UTC(), &Report{Reasons: map[string]int64{}}); err != nil {
			return nil, err
		}
		for _, t := range []struct{ table, rel string }{{sourceCleanTable(src), "cl_src_clean"}, {sourceValuesTable(src), "cl_src_quarantine"}} {
			v := tsql.View{Name: tsql.ViewName(t.table), Table: t.table}
			if v.Columns, err = s.Columns(ctx, t.rel); err != nil {
				return nil, err
			}
			views = append(views, v)
		}
	}
	return views, nil
}
