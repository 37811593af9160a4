package sql

import (
	"context"
	dsql "database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/tributary-cdp/tributary/identity"
)

//go:embed *.sql
var files embed.FS

// Config sets DuckDB's resources for one session.
type Config struct {
	// MemoryLimit is DuckDB's memory_limit ("4GB", "80%"); empty keeps DuckDB's default.
	MemoryLimit string `yaml:"memory_limit,omitempty"`
	// Threads is DuckDB's worker count; 0 means the number of CPUs.
	Threads int `yaml:"threads,omitempty"`
	// TempDir is where DuckDB spills; empty means the OS temp dir.
	TempDir string `yaml:"temp_dir,omitempty"`
	// Blocklist are extra junk identifier values for blocked_identifier
	// ("value" or "type:value"), on top of identity.DefaultJunk; Allow
	// takes values off it (identity.Junk).
	Blocklist []string `yaml:"blocklist,omitempty"`
	Allow     []string `yaml:"allow,omitempty"`
	// PhoneRegions are where normalize_phone and normalize_identifier read
	// numbers without a country code, in the region of the workspace they
	// are given: the speed layer's, or the layers disagree on phone
	// identifiers.
	PhoneRegions identity.Regions `yaml:"-"`
	// Trace, when set, is called after every statement the session runs
	// with the statement and how long DuckDB took: benchmarks use it to
	// find the slow statements of a job.
	Trace func(stmt string, d time.Duration) `yaml:"-"`
}

// DefaultConfig returns limits fit for a laptop: all CPUs, DuckDB's default
// memory limit (80% of RAM), spill under the OS temp dir.
func DefaultConfig() Config { return Config{} }

var memRe = regexp.MustCompile(`^(\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)|\d{1,2}%|100%)$`)

// Validate checks the limits.
func (c Config) Validate() error {
	if c.MemoryLimit != "" && !memRe.MatchString(c.MemoryLimit) {
		return fmt.Errorf("duckdb memory_limit %q: want a size such as 4GB or a percentage such as 80%%", c.MemoryLimit)
	}
	if c.Threads < 0 || c.Threads > 1024 {
		return fmt.Errorf("duckdb threads %d: want 0 (all CPUs) to 1024", c.Threads)
	}
	if err := c.PhoneRegions.Validate(); err != nil {
		return fmt.Errorf("duckdb: %w", err)
	}
	return nil
}

// Session is one in-memory DuckDB database with one connection. It is not
// safe for concurrent use; open one session per job.
type Session struct {
	db    *dsql.DB
	conn  *dsql.Conn
	trace func(string, time.Duration)
}

// Open starts a session with cfg's limits and the normalization UDFs.
func Open(ctx context.Context, cfg Config) (*Session, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		return nil, fmt.Errorf("open duckdb: %w", err)
	}
	db := dsql.OpenDB(connector)
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("connect duckdb: %w", err)
	}
	s := &Session{db: db, conn: conn, trace: cfg.Trace}
	threads := cfg.Threads
	if threads == 0 {
		threads = runtime.NumCPU()
	}
	settings := []string{fmt.Sprintf("SET threads = %d", threads), "SET preserve_insertion_order = false"}
	if cfg.MemoryLimit != "" {
		limit, err := memoryLimit(cfg.MemoryLimit)
		if err != nil {
			s.Close()
			return nil, err
		}
		settings = append(settings, "SET memory_limit = "+QuoteLiteral(limit))
	}
	tmp := cfg.TempDir
	if tmp == "" {
		tmp = os.TempDir()
	}
	// DuckDB creates only the last directory of temp_directory, and only
	// when it first spills: a missing parent fails the statement that
	// needed the memory (at 10M events, minutes into a job).
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		s.Close()
		return nil, fmt.Errorf("duckdb temp_directory %s: %w", tmp, err)
	}
	settings = append(settings, "SET temp_directory = "+QuoteLiteral(tmp))
	for _, q := range settings {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			s.Close()
			return nil, fmt.Errorf("configure duckdb (%s): %w", q, err)
		}
	}
	if err := registerUDFs(conn, identity.Junk(cfg.Blocklist, cfg.Allow), cfg.PhoneRegions); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.Run(ctx, "macros.sql", nil); err != nil {
		s.Close()
		return nil, fmt.Errorf("define duckdb macros: %w", err)
	}
	return s, nil
}

// Close releases the connection and the database. It is idempotent.
func (s *Session) Close() error {
	var errs []error
	if s.conn != nil {
		errs = append(errs, s.conn.Close())
		s.conn = nil
	}
	if s.db != nil {
		errs = append(errs, s.db.Close())
		s.db = nil
	}
	return errors.Join(errs...)
}

// Conn is the session's connection, for callers that need database/sql directly.
func (s *Session) Conn() *dsql.Conn { return s.conn }

// Exec runs one statement with bound arguments.
func (s *Session) Exec(ctx context.Context, query string, args ...any) error {
	defer s.traced(query, time.Now())
	if _, err := s.conn.ExecContext(ctx, query, args...); err != nil {
		return err
	}
	return nil
}

// Query runs one statement and returns its rows (the trace, if any, times
// the statement up to its first rows, not the caller's reading).
func (s *Session) Query(ctx context.Context, query string, args ...any) (*dsql.Rows, error) {
	defer s.traced(query, time.Now())
	return s.conn.QueryContext(ctx, query, args...)
}

// QueryRow runs one statement expected to return one row.
func (s *Session) QueryRow(ctx context.Context, query string, args ...any) *dsql.Row {
	defer s.traced(query, time.Now())
	return s.conn.QueryRowContext(ctx, query, args...)
}

func (s *Session) traced(query string, start time.Time) {
	if s.trace != nil {
		s.trace(query, time.Since(start))
	}
}

// Script returns the text of an embedded file ("fs_blocking.sql").
func Script(name string) (string, error) {
	b, err := fs.ReadFile(files, name)
	if err != nil {
		return "", fmt.Errorf("read embedded sql %s: %w", name, err)
	}
	return string(b), nil
}

var paramRe = regexp.MustCompile(`\$([a-z_][a-z0-9_]*)`)

// Run executes the statements of an embedded file in order. Statements are
// separated by a semicolon at the end of a line. Each statement receives
// the named parameters it mentions ($name) from params; a parameter it
// mentions but params lacks is an error.
func (s *Session) Run(ctx context.Context, name string, params map[string]any) error {
	text, err := Script(name)
	if err != nil {
		return err
	}
	return s.RunText(ctx, name, text, params)
}

// RunText is Run over SQL text (for text rendered from a fixed template).
func (s *Session) RunText(ctx context.Context, name, text string, params map[string]any) error {
	for i, stmt := range Statements(text) {
		args, err := bind(stmt, params)
		if err != nil {
			return fmt.Errorf("%s statement %d: %w", name, i+1, err)
		}
		if err := s.Exec(ctx, stmt, args...); err != nil {
			return fmt.Errorf("%s statement %d: %w", name, i+1, err)
		}
	}
	return nil
}

func bind(stmt string, params map[string]any) ([]any, error) {
	var args []any
	seen := map[string]bool{}
	for _, m := range paramRe.FindAllStringSubmatch(stripComments(stmt), -1) {
		if seen[m[1]] {
			continue
		}
		seen[m[1]] = true
		v, ok := params[m[1]]
		if !ok {
			return nil, fmt.Errorf("parameter $%s has no value", m[1])
		}
		args = append(args, dsql.Named(m[1], v))
	}
	return args, nil
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i]
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// Statements splits SQL text at semicolons that end a line, dropping
// statements that hold only comments.
func Statements(text string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		st := strings.TrimSpace(cur.String())
		cur.Reset()
		if strings.TrimSpace(stripComments(st)) != "" {
			out = append(out, st)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasSuffix(trimmed, ";") && !strings.HasPrefix(trimmed, "--") {
			cur.WriteString(strings.TrimSuffix(trimmed, ";"))
			flush()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	flush()
	return out
}

// QuoteIdent quotes a SQL identifier (a column name read from a file header).
func QuoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// MemberPath is the JSON path of the object member key, as DuckDB's JSON
// functions read it (an identify trait: json_extract_string(traits, path)).
func MemberPath(key string) string { return `$."` + strings.ReplaceAll(key, `"`, `\"`) + `"` }

// QuoteLiteral quotes a SQL string literal, for the few places DuckDB takes
// no bound parameter (view definitions, SET).
func QuoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, "\x00", ""), "'", "''") + "'"
}

// CreateParquetView creates (or replaces) a temporary view over Parquet
// files. Views cannot hold bound parameters, so paths are quoted literals.
// hive_partitioning exposes key=value directories as columns.
func (s *Session) CreateParquetView(ctx context.Context, name string, paths []string) error {
	if len(paths) == 0 {
		return fmt.Errorf("create view %s: no parquet files", name)
	}
	lits := make([]string, len(paths))
	for i, p := range paths {
		lits[i] = QuoteLiteral(p)
	}
	q := fmt.Sprintf("CREATE OR REPLACE TEMP VIEW %s AS SELECT * FROM read_parquet([%s], hive_partitioning = true, union_by_name = true)",
		QuoteIdent(name), strings.Join(lits, ", "))
	if err := s.Exec(ctx, q); err != nil {
		return fmt.Errorf("create view %s over %d parquet files: %w", name, len(paths), err)
	}
	return nil
}

// CreateCSVView creates a temporary view over CSV files with a header, every
// column read as VARCHAR.
func (s *Session) CreateCSVView(ctx context.Context, name string, paths []string) error {
	if len(paths) == 0 {
		return fmt.Errorf("create view %s: no csv files", name)
	}
	lits := make([]string, len(paths))
	for i, p := range paths {
		lits[i] = QuoteLiteral(p)
	}
	q := fmt.Sprintf("CREATE OR REPLACE TEMP VIEW %s AS SELECT * FROM read_csv([%s], header = true, all_varchar = true, union_by_name = true)",
		QuoteIdent(name), strings.Join(lits, ", "))
	if err := s.Exec(ctx, q); err != nil {
		return fmt.Errorf("create view %s over %d csv files: %w", name, len(paths), err)
	}
	return nil
}

// Columns lists a table's or view's columns in order, typed as
// information_schema.columns says.
func (s *Session) Columns(ctx context.Context, table string) ([]Column, error) {
	rows, err := s.Query(ctx, "SELECT column_name, column_type FROM (DESCRIBE "+QuoteIdent(table)+")")
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", table, err)
	}
	defer rows.Close()
	var cols []Column
	for rows.Next() {
		var c Column
		if err := rows.Scan(&c.Name, &c.Type); err != nil {
			return nil, fmt.Errorf("describe %s: %w", table, err)
		}
		cols = append(cols, c)
	}
	return cols, rows.Err()
}

// Named binds a $name parameter (database/sql.Named, re-exported so callers
// need not import database/sql next to this package).
func Named(name string, value any) dsql.NamedArg { return dsql.Named(name, value) }

// memoryLimit turns a percentage of the machine's RAM ("35%"), which
// DuckDB does not accept, into a size; sizes pass through.
func memoryLimit(v string) (string, error) {
	pct, ok := strings.CutSuffix(strings.TrimSpace(v), "%")
	if !ok {
		return v, nil
	}
	n, err := strconv.ParseFloat(pct, 64)
	if err != nil || n <= 0 || n > 100 {
		return "", fmt.Errorf("duckdb memory_limit %q: want a percentage from 1%% to 100%%", v)
	}
	total := totalMemory()
	if total == 0 {
		return "", fmt.Errorf("duckdb memory_limit %q: the machine's memory is unknown here; give a size such as 4GB", v)
	}
	return fmt.Sprintf("%dMB", uint64(float64(total)*n/100)/1_000_000), nil
}
