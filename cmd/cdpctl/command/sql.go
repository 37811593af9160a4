package command

import (
	"bufio"
	"context"
	dsql "database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tributary-cdp/tributary/batch/cleanse"
	"github.com/tributary-cdp/tributary/batch/ingest"
	"github.com/tributary-cdp/tributary/internal/plural"
	tsql "github.com/tributary-cdp/tributary/sql"
)

type sqlOptions struct {
	format     string
	file       string
	output     string
	printViews bool
}

func newSQLCmd(g *globalOptions) *cobra.Command {
	o := &sqlOptions{}
	cmd := &cobra.Command{
		Use:   "sql [QUERY]",
		Short: "Query every zone of the lake with DuckDB",
		Long: "Opens DuckDB with a view for every table of the lake: events, profiles, identity_map,\n" +
			"identity_edges, segment_membership, clean_events, quarantine_events,\n" +
			"quarantine_events_values, always (empty, with their columns, before the jobs that\n" +
			"write them have run), and raw_<source>, quarantine_<source>, and for a profiles source\n" +
			"clean_<source> and quarantine_<source>_values, from the moment the source is added\n" +
			"(empty, with the columns its files will have, until its first drop). Local lakes are read in place; S3 lakes through a local cache\n" +
			"kept by ETag under <data-dir>/cache/lake. Without QUERY or --file it reads statements\n" +
			"from standard input, with a prompt when that is a terminal.",
		Example: "  cdpctl sql 'SELECT type, count(*) FROM events GROUP BY ALL'\n" +
			"  cdpctl sql --format csv --file report.sql\n" +
			"  cdpctl sql --format parquet --output profiles.parquet 'FROM profiles'\n" +
			"  cdpctl sql --print-views | duckdb",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return fmt.Errorf("QUERY is one argument, %d were given: quote it, as in cdpctl sql 'SELECT 1'", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, g, args) },
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "", "output format: table, csv, json, parquet (default: the --output file's extension when it is one of those, else table)")
	f.StringVar(&o.file, "file", "", "run the statements of this SQL file")
	f.StringVar(&o.output, "output", "", "write results to this file instead of standard output (required for parquet on a terminal)")
	f.BoolVar(&o.printViews, "print-views", false, "print the CREATE VIEW statements (for the duckdb CLI) and exit")
	return cmd
}

func (o *sqlOptions) run(cmd *cobra.Command, g *globalOptions, args []string) error {
	if o.format == "" {
		// --output report.parquet writes Parquet, as its name says, not a text table.
		o.format = "table"
		if ext := strings.TrimPrefix(filepath.Ext(o.output), "."); slices.Contains([]string{"csv", "json", "parquet"}, ext) {
			o.format = ext
		}
	}
	switch o.format {
	case "table", "csv", "json", "parquet":
	default:
		return fmt.Errorf("--format %q: want table, csv, json or parquet", o.format)
	}
	ctx := cmd.Context()
	cfg, err := g.load(cmd)
	if err != nil {
		return err
	}
	env, err := openJobEnv(ctx, cfg, cfg.Brokers())
	if err != nil {
		return err
	}
	views, err := tsql.LakeViews(ctx, env.lake, filepath.Join(cfg.DataDir, "cache", "lake"))
	if err != nil {
		return err
	}
	scfg := tsql.DefaultConfig()
	scfg.TempDir = filepath.Join(cfg.DataDir, "tmp", "duckdb")
	normalizeLike(&scfg, cfg) // normalize_phone as the jobs call it
	srcs, err := ingest.NewStore(env.lake).List(ctx)
	if err != nil {
		return err
	}
	if views, err = withSourceViews(ctx, views, srcs, scfg, filepath.Join(cfg.DataDir, "tmp")); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if o.printViews {
		for _, v := range views {
			if len(v.Files) == 0 {
				fmt.Fprintf(out, "-- %s: no files yet, an empty view\n%s;\n", v.Table, tsql.ViewStatement(v))
				continue
			}
			fmt.Fprintf(out, "-- %s: %s in %s\n%s;\n", v.Table, plural.Count(v.Rows, "row"), plural.Count(len(v.Files), "file"), tsql.ViewStatement(v))
		}
		return nil
	}
	sess, err := tsql.Open(ctx, scfg)
	if err != nil {
		return err
	}
	defer sess.Close()
	if err := sess.CreateViews(ctx, views); err != nil {
		return err
	}

	if o.output != "" && o.format != "parquet" {
		f, err := os.Create(o.output)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	var script string
	switch {
	case len(args) == 1 && o.file != "":
		return errors.New("give a QUERY or --file, not both")
	case len(args) == 1:
		script = args[0]
	case o.file != "":
		b, err := os.ReadFile(o.file)
		if err != nil {
			return fmt.Errorf("read --file: %w", err)
		}
		script = string(b)
	default:
		in := cmd.InOrStdin()
		if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return o.repl(ctx, sess, f, out, views)
		}
		b, err := io.ReadAll(in)
		if err != nil {
			return err
		}
		script = string(b)
	}
	for _, stmt := range splitStatements(script) {
		if err := o.runStatement(ctx, sess, stmt, out); err != nil {
			return err
		}
	}
	return nil
}

// withSourceViews adds to views an empty view of each table of a defined
// source that has no files yet (before its first drop, or a quarantine no
// row went to), typed as its files will be.
func withSourceViews(ctx context.Context, views []tsql.View, srcs []*ingest.Source, scfg tsql.Config, dir string) ([]tsql.View, error) {
	have := map[string]bool{}
	for _, v := range views {
		have[v.Table] = true
	}
	var need []*ingest.Source
	for _, src := range srcs {
		if slices.ContainsFunc(cleanse.SourceTables(src), func(t string) bool { return !have[t] }) {
			need = append(need, src)
		}
	}
	empty, err := cleanse.SourceViews(ctx, scfg, need, dir)
	if err != nil {
		return nil, err
	}
	for _, v := range empty {
		if !have[v.Table] {
			views = append(views, v)
		}
	}
	slices.SortFunc(views, func(a, b tsql.View) int { return strings.Compare(a.Table, b.Table) })
	return views, nil
}

// splitStatements splits a script on semicolons outside quotes and comments.
func splitStatements(s string) []string {
	var out []string
	var cur strings.Builder
	var quote rune
	lineComment := false
	for _, r := range s {
		switch {
		case lineComment:
			if r == '\n' {
				lineComment = false
			}
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '-' && strings.HasSuffix(cur.String(), "-"):
			lineComment = true
		case r == ';':
			if st := strings.TrimSpace(cur.String()); st != "" {
				out = append(out, st)
			}
			cur.Reset()
			continue
		}
		cur.WriteRune(r)
	}
	if st := strings.TrimSpace(cur.String()); st != "" && !isOnlyComments(st) {
		out = append(out, st)
	}
	return out
}

func isOnlyComments(s string) bool {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "--") {
			return false
		}
	}
	return true
}

// missingView matches DuckDB's error for a name no view or table has.
var missingView = regexp.MustCompile(`Table with name (\w+) does not exist`)

// explainMissingView says why a zone's view may be missing: the tables the
// jobs write and those of every defined source always have one.
func explainMissingView(err error) error {
	m := missingView.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	for _, zone := range []string{"raw_", "clean_", "quarantine_"} {
		if strings.HasPrefix(m[1], zone) {
			return fmt.Errorf("%w\n(no view %s: no source defines that table (an events source has no clean_ and quarantine_<source>_values views); `cdpctl source list` lists the sources, --print-views the views)", err, m[1])
		}
	}
	return err
}

func (o *sqlOptions) runStatement(ctx context.Context, sess *tsql.Session, stmt string, out io.Writer) error {
	if o.format == "parquet" {
		return o.copyParquet(ctx, sess, stmt, out)
	}
	rows, err := sess.Query(ctx, stmt)
	if err != nil {
		return explainMissingView(fmt.Errorf("query: %w", err))
	}
	defer rows.Close()
	return writeRows(rows, o.format, out)
}

// copyParquet runs COPY (stmt) TO a Parquet file: --output, or a temporary
// file streamed to standard output.
func (o *sqlOptions) copyParquet(ctx context.Context, sess *tsql.Session, stmt string, out io.Writer) error {
	path := o.output
	if path == "" {
		if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return errors.New("--format parquet writes binary: give --output FILE or redirect standard output")
		}
		tmp, err := os.CreateTemp("", "cdpctl-sql-*.parquet")
		if err != nil {
			return err
		}
		tmp.Close()
		defer os.Remove(tmp.Name())
		path = tmp.Name()
	}
	q := "COPY (" + strings.TrimRight(stmt, "; \n") + ") TO " + tsql.QuoteLiteral(path) + " (FORMAT parquet, COMPRESSION zstd)"
	if err := sess.Exec(ctx, q); err != nil {
		return fmt.Errorf("query: %w", err)
	}
	if o.output != "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(out, f)
	return err
}

func (o *sqlOptions) repl(ctx context.Context, sess *tsql.Session, in *os.File, out io.Writer, views []tsql.View) error {
	fmt.Fprintf(out, "Tributary SQL (DuckDB). Views:")
	for _, v := range views {
		fmt.Fprintf(out, " %s", v.Name)
	}
	fmt.Fprintln(out, "\nEnd statements with ';'. .views lists views, .quit exits.")
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var buf strings.Builder
	prompt := func() {
		if buf.Len() == 0 {
			fmt.Fprint(out, "cdp> ")
		} else {
			fmt.Fprint(out, "...> ")
		}
	}
	prompt()
	for sc.Scan() {
		line := sc.Text()
		if buf.Len() == 0 {
			switch strings.TrimSpace(line) {
			case ".quit", ".exit", `\q`:
				return nil
			case ".views":
				for _, v := range views {
					fmt.Fprintf(out, "%-24s %-28s %s\n", v.Name, v.Table, plural.Count(v.Rows, "row"))
				}
				prompt()
				continue
			}
		}
		buf.WriteString(line)
		buf.WriteByte('\n')
		if strings.HasSuffix(strings.TrimSpace(line), ";") {
			for _, stmt := range splitStatements(buf.String()) {
				start := time.Now()
				if err := o.runStatement(ctx, sess, stmt, out); err != nil {
					fmt.Fprintln(out, "Error:", err)
				} else {
					fmt.Fprintf(out, "(%s)\n", time.Since(start).Round(time.Millisecond))
				}
			}
			buf.Reset()
		}
		prompt()
	}
	fmt.Fprintln(out)
	return sc.Err()
}

// writeRows prints rows as an aligned table, CSV or a JSON array.
func writeRows(rows *dsql.Rows, format string, out io.Writer) error {
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var (
		tw *tabwriter.Writer
		cw *csv.Writer
		n  int
	)
	switch format {
	case "table":
		tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
		seps := make([]string, len(cols))
		for i, c := range cols {
			seps[i] = strings.Repeat("-", max(3, len(c)))
		}
		fmt.Fprintln(tw, strings.Join(seps, "\t"))
	case "csv":
		cw = csv.NewWriter(out)
		cw.Write(cols)
	case "json":
		fmt.Fprint(out, "[")
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		switch format {
		case "table", "csv":
			cells := make([]string, len(cols))
			for i, v := range vals {
				cells[i] = cellString(v)
			}
			if tw != nil {
				for i := range cells {
					cells[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(cells[i])
				}
				fmt.Fprintln(tw, strings.Join(cells, "\t"))
			} else {
				cw.Write(cells)
			}
		case "json":
			// Objects keep the column order of the query.
			var b strings.Builder
			if n > 0 {
				b.WriteString(",\n")
			}
			b.WriteByte('{')
			for i, c := range cols {
				if i > 0 {
					b.WriteByte(',')
				}
				k, _ := json.Marshal(c)
				v, err := json.Marshal(jsonValue(vals[i]))
				if err != nil {
					v, _ = json.Marshal(fmt.Sprint(vals[i]))
				}
				b.Write(k)
				b.WriteByte(':')
				b.Write(v)
			}
			b.WriteByte('}')
			if _, err := io.WriteString(out, b.String()); err != nil {
				return err
			}
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("query: %w", err)
	}
	switch format {
	case "table":
		tw.Flush()
		fmt.Fprintf(out, "(%s)\n", plural.Count(n, "row"))
	case "csv":
		cw.Flush()
		return cw.Error()
	case "json":
		fmt.Fprintln(out, "]")
	}
	return nil
}

func cellString(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return x
	case []byte:
		return string(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case fmt.Stringer:
		return x.String()
	case map[string]any, []any, map[any]any:
		b, err := json.Marshal(jsonValue(x))
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	}
	return fmt.Sprint(v)
}

// jsonValue makes DuckDB values JSON-encodable (MAP keys become strings).
func jsonValue(v any) any {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, vv := range x {
			m[fmt.Sprint(k)] = jsonValue(vv)
		}
		return m
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, vv := range x {
			m[k] = jsonValue(vv)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, vv := range x {
			out[i] = jsonValue(vv)
		}
		return out
	}
	return v
}
