// Package resolve is the resolve job: identity resolution over the lake
// (clean/events, or raw/events before the first cleanse, and CRM sources)
// into curated/identity_edges and curated/identity_map.
//
// Identifiers observed in one record (an event's user_id, anonymous_id and
// identifier traits; an alias's previous id; a CRM row's declared identifier
// fields) are linked. Values are normalized by identity.Normalize (through
// the DuckDB UDF normalize_identifier) and junk values dropped with
// identity's blocklist, exactly as the speed layer does; a value seen with
// more distinct user ids than its type's cap is shared and links nothing,
// and one seen with Alarm or more raises an alarm in the report. Connected
// components (identity.UnionFind) are the profiles.
//
// Canonical ids are stable: a cluster keeps the cdp_id its oldest member
// (by first_seen) had in the previous map; a cluster with no previous id
// mints one from its oldest member. When clusters merge, the oldest
// member's id wins; when one splits, the part holding the oldest member
// keeps the id. The report counts merges and splits against the last run.
//
// Tables (Parquet, partitioned by workspace):
//
//	curated/identity_map    workspace, id_type, id_value, cdp_id, first_seen TIMESTAMP, run_id
//	                        replaced whole by each run; manifest offsets = the events watermark
//	curated/identity_edges  workspace, a_type, a_value, b_type, b_value, rule, score DOUBLE,
//	                        source, record, ts TIMESTAMP, run_id; append-only (each run adds the
//	                        edges no earlier run recorded)
package resolve

import (
	"context"
	"crypto/sha256"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/tributary-cdp/tributary/batch/ingest"
	"github.com/tributary-cdp/tributary/identity"
	"github.com/tributary-cdp/tributary/identity/match"
	"github.com/tributary-cdp/tributary/internal/plural"
	"github.com/tributary-cdp/tributary/lake"
	tsql "github.com/tributary-cdp/tributary/sql"
)

// Tables the job writes, and the cleansed events it prefers to read.
const (
	TableIdentityMap   = "curated/identity_map"
	TableIdentityEdges = "curated/identity_edges"
	TableCleanEvents   = "clean/events"
)

// Config of one run.
type Config struct {
	Storage lake.Storage
	SQL     tsql.Config
	// SpoolDir holds files DuckDB writes before they are uploaded.
	SpoolDir string
	// CacheDir holds local copies of an S3 lake's files.
	CacheDir string
	// Sources are the registered sources; their identifier fields link.
	Sources []*ingest.Source
	// Caps is, per identifier type, how many distinct user ids one value may
	// link before it is treated as shared (the speed layer's speed.caps).
	Caps map[string]int
	// IdentifierTraits maps an identify trait to the identifier type it carries.
	IdentifierTraits map[string]string
	// Alarm is the number of distinct user ids from which one value is
	// reported as an alarm (it would merge that many profiles).
	Alarm int
	// Probabilistic adds Fellegi–Sunter edges between CRM profile records
	// that describe one person without sharing an identifier (fields named
	// like the resolver's attributes: first_name, last_name, dob, …).
	Probabilistic bool
	Match         match.Config
	Now           func() time.Time
}

// DefaultConfig mirrors the speed layer's hygiene defaults.
func DefaultConfig() Config {
	return Config{
		SQL:              tsql.DefaultConfig(),
		Caps:             map[string]int{"email": 5, "phone": 5},
		IdentifierTraits: map[string]string{"email": "email", "phone": "phone"},
		Alarm:            20,
		Probabilistic:    true,
		Match:            match.DefaultConfig(),
		Now:              time.Now,
	}
}

// Validate checks the config.
func (c Config) Validate() error {
	if c.Storage == nil {
		return errors.New("resolve: no lake storage")
	}
	if c.Alarm < 2 {
		return fmt.Errorf("resolve: alarm %d: want at least 2 user ids", c.Alarm)
	}
	for t, n := range c.Caps {
		if n < 0 {
			return fmt.Errorf("resolve: cap of %s is %d: want 0 (none) or more", t, n)
		}
	}
	if c.Probabilistic {
		if err := c.Match.Validate(); err != nil {
			return err
		}
	}
	return c.SQL.Validate()
}

// Alarm is one value that would have merged many profiles.
type Alarm struct {
	Workspace, Type, Value string
	UserIDs                int64
	Capped                 bool
}

// Report is what a run did.
type Report struct {
	Identifiers int64
	Edges       int64
	// ProbabilisticEdges are the Fellegi–Sunter links among Edges.
	ProbabilisticEdges int64
	NewEdges           int64
	Profiles           int64
	// Histogram counts profiles by number of identifiers: "1", "2", "3-5",
	// "6-10", "11-100", ">100".
	Histogram map[string]int64
	// Against the previous map: profiles that absorbed another's id
	// (merges), ids split across profiles (splits), profiles new this run.
	Merges, Splits, NewProfiles int64
	Shared                      int64
	Alarms                      []Alarm
	Watermark                   map[int32]int64
}

// HistogramBuckets is the order of Report.Histogram's keys.
var HistogramBuckets = []string{"1", "2", "3-5", "6-10", "11-100", ">100"}

func bucket(n int) string {
	switch {
	case n <= 1:
		return "1"
	case n == 2:
		return "2"
	case n <= 5:
		return "3-5"
	case n <= 10:
		return "6-10"
	case n <= 100:
		return "11-100"
	}
	return ">100"
}

// Counts flattens the report for the job history.
func (r *Report) Counts() map[string]int64 {
	c := map[string]int64{
		"identifiers": r.Identifiers, "edges": r.Edges, "probabilistic_edges": r.ProbabilisticEdges, "new_edges": r.NewEdges, "profiles": r.Profiles,
		"merges": r.Merges, "splits": r.Splits, "new_profiles": r.NewProfiles, "shared_values": r.Shared, "alarms": int64(len(r.Alarms)),
	}
	for k, v := range r.Histogram {
		c["profiles_size_"+k] = v
	}
	return c
}

// String is the one-paragraph run report.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s in %s (%d new, %s, %s vs last run), %s (%d new, %d probabilistic), %s",
		plural.Count(r.Identifiers, "identifier"), plural.Count(r.Profiles, "profile"), r.NewProfiles, plural.Count(r.Merges, "merge"),
		plural.Count(r.Splits, "split"), plural.Count(r.Edges, "edge"), r.NewEdges, r.ProbabilisticEdges, plural.Count(r.Shared, "shared value"))
	b.WriteString("; profiles by identifiers held (identifiers:profiles)")
	for _, k := range HistogramBuckets {
		if r.Histogram[k] > 0 {
			fmt.Fprintf(&b, " %s:%d", k, r.Histogram[k])
		}
	}
	for i, a := range r.Alarms {
		if i == 5 {
			fmt.Fprintf(&b, "; … %s more", plural.Count(len(r.Alarms)-5, "alarm"))
			break
		}
		fmt.Fprintf(&b, "; ALARM %s:%s in %s seen with %s", a.Type, a.Value, a.Workspace, plural.Count(a.UserIDs, "user id"))
	}
	return b.String()
}

// Run resolves every committed record of the lake and commits both tables.
func Run(ctx context.Context, cfg Config, runID string) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st := cfg.Storage
	rep := &Report{Histogram: map[string]int64{}}
	sess, err := tsql.Open(ctx, cfg.SQL)
	if err != nil {
		return nil, err
	}
	defer sess.Close()

	// Events come from clean/events when the cleanse job has built it
	// (deduplicated, identifiers normalized, rejected values removed), else
	// straight from raw/events; the watermark is what that table holds.
	ev, err := lake.LatestManifest(ctx, st, TableCleanEvents)
	if err != nil && !lake.IsNotExist(err) {
		return nil, fmt.Errorf("resolve: read %s manifest: %w", TableCleanEvents, err)
	}
	clean, table := err == nil && ev.Version > 0, TableCleanEvents
	if !clean {
		table = lake.TableEvents
		if ev, err = lake.LatestManifest(ctx, st, table); err != nil {
			return nil, fmt.Errorf("resolve: read %s manifest: %w", lake.TableEvents, err)
		}
	}
	rep.Watermark = ev.Offsets
	if err := eventsView(ctx, sess, st, cfg.CacheDir, table, ev.Files); err != nil {
		return nil, err
	}
	if clean {
		err = sess.Exec(ctx, "CREATE OR REPLACE TEMP VIEW rs_events AS SELECT * FROM rs_events_raw")
	} else {
		// Before the first cleanse: each message once, as cleanse keeps it.
		err = sess.Exec(ctx, "CREATE OR REPLACE TEMP TABLE rs_events AS FROM first_landed('rs_events_raw')")
	}
	if err != nil {
		return nil, fmt.Errorf("resolve: events once per message: %w", err)
	}
	if err := sess.Run(ctx, "resolve_observe.sql", nil); err != nil {
		return nil, fmt.Errorf("resolve: observe events: %w", err)
	}
	traits := make([]string, 0, len(cfg.IdentifierTraits))
	for t := range cfg.IdentifierTraits {
		traits = append(traits, t)
	}
	sort.Strings(traits)
	for _, t := range traits {
		if err := sess.Run(ctx, "resolve_observe_trait.sql", map[string]any{"trait": t, "path": tsql.MemberPath(t), "id_type": cfg.IdentifierTraits[t]}); err != nil {
			return nil, fmt.Errorf("resolve: observe trait %s: %w", t, err)
		}
	}
	for _, src := range cfg.Sources {
		if err := observeSource(ctx, sess, st, cfg.CacheDir, src); err != nil {
			return nil, err
		}
	}
	if err := sess.Exec(ctx, "CREATE OR REPLACE TEMP TABLE rs_caps (id_type VARCHAR, cap BIGINT)"); err != nil {
		return nil, fmt.Errorf("resolve: caps: %w", err)
	}
	for t, n := range cfg.Caps {
		if n > 0 {
			if err := sess.Exec(ctx, "INSERT INTO rs_caps VALUES ($1, $2)", t, n); err != nil {
				return nil, fmt.Errorf("resolve: caps: %w", err)
			}
		}
	}
	if err := sess.Run(ctx, "resolve_edges.sql", map[string]any{"alarm": cfg.Alarm}); err != nil {
		return nil, fmt.Errorf("resolve: build edges: %w", err)
	}
	if cfg.Probabilistic {
		if err := sess.Exec(ctx, "CREATE OR REPLACE TEMP TABLE rs_fs_linked AS SELECT * FROM rs_edges LIMIT 0"); err != nil {
			return nil, fmt.Errorf("resolve: probabilistic edges: %w", err)
		}
		if rep.ProbabilisticEdges, err = probabilistic(ctx, sess, st, cfg.CacheDir, cfg.Sources, cfg.Match); err != nil {
			return nil, err
		}
		if err := sess.Exec(ctx, "INSERT INTO rs_edges SELECT * FROM rs_fs_linked"); err != nil {
			return nil, fmt.Errorf("resolve: probabilistic edges: %w", err)
		}
	}
	if err := readAlarms(ctx, sess, rep); err != nil {
		return nil, err
	}
	if err := cluster(ctx, sess, st, cfg.CacheDir, rep); err != nil {
		return nil, err
	}

	spool, err := os.MkdirTemp(cfg.SpoolDir, "tributary-resolve-")
	if err != nil {
		return nil, fmt.Errorf("resolve: spool dir: %w", err)
	}
	defer os.RemoveAll(spool)
	who := lake.CommitInfo{Job: "resolve", RunID: runID}
	if err := newEdges(ctx, sess, st, cfg.CacheDir, runID); err != nil {
		return nil, err
	}
	// Unsorted: the edges are only ever filtered (Explain, the next run's
	// anti join), and their sort by every column was 8.8 s at 1M customers.
	written, err := writeTable(ctx, sess, st, spool, TableIdentityEdges, "rs_new_edges", "", runID, true, nil, who)
	if err != nil {
		return nil, err
	}
	for _, f := range written {
		rep.NewEdges += f.Rows
	}
	// A view, computed once by the export.
	if err := sess.Exec(ctx, `CREATE OR REPLACE TEMP VIEW rs_map AS
		SELECT n.workspace, n.id_type, n.id_value, a.cdp_id, n.first_seen, `+tsql.QuoteLiteral(runID)+` AS run_id
		FROM rs_nodes n JOIN rs_assign a ON a.node = n.rowid`); err != nil {
		return nil, fmt.Errorf("resolve: build identity map: %w", err)
	}
	if _, err := writeTable(ctx, sess, st, spool, TableIdentityMap, "rs_map", "workspace, id_type, id_value", runID, false, rep.Watermark, who); err != nil {
		return nil, err
	}
	return rep, nil
}

func eventsView(ctx context.Context, sess *tsql.Session, st lake.Storage, cacheDir, table string, files []lake.File) error {
	keys := make([]string, len(files))
	for i, f := range files {
		keys[i] = f.Path
	}
	paths, err := tsql.LocalPaths(ctx, st, keys, cacheDir)
	if err != nil {
		return fmt.Errorf("resolve: fetch events: %w", err)
	}
	if len(paths) == 0 {
		return sess.CreateEmptyTable(ctx, "rs_events_raw", table)
	}
	if err := sess.CreateParquetView(ctx, "rs_events_raw", paths); err != nil {
		return fmt.Errorf("resolve: read events: %w", err)
	}
	return nil
}

// observeSource adds one CRM source's identifier fields. Column names come
// from the validated source definition and are quoted as identifiers;
// values are bound parameters.
func observeSource(ctx context.Context, sess *tsql.Session, st lake.Storage, cacheDir string, src *ingest.Source) error {
	ids := src.Identifiers()
	if len(ids) == 0 {
		return nil
	}
	files, err := lake.CommittedFiles(ctx, st, src.Table())
	if err != nil {
		if lake.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("resolve: list %s: %w", src.Table(), err)
	}
	if len(files) == 0 {
		return nil
	}
	keys := make([]string, len(files))
	for i, f := range files {
		keys[i] = f.Path
	}
	paths, err := tsql.LocalPaths(ctx, st, keys, cacheDir)
	if err != nil {
		return fmt.Errorf("resolve: fetch %s: %w", src.Table(), err)
	}
	view := "rs_src"
	if err := sess.CreateParquetView(ctx, view, paths); err != nil {
		return fmt.Errorf("resolve: read %s: %w", src.Table(), err)
	}
	fields := make([]string, 0, len(ids))
	for f := range ids {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	for _, f := range fields {
		q := `INSERT INTO rs_obs_raw SELECT $ws, $typ, CAST(` + tsql.QuoteIdent(f) + ` AS VARCHAR), $src,
			concat(_file, ':', _line), CAST(_ingested_at AS TIMESTAMP), 'shared_record' FROM ` + view +
			` WHERE ` + tsql.QuoteIdent(f) + ` IS NOT NULL`
		if err := sess.Exec(ctx, q, tsql.Named("ws", src.Workspace), tsql.Named("typ", ids[f]), tsql.Named("src", src.Name)); err != nil {
			return fmt.Errorf("resolve: observe %s.%s: %w", src.Name, f, err)
		}
	}
	return nil
}

func readAlarms(ctx context.Context, sess *tsql.Session, rep *Report) error {
	rows, err := sess.Query(ctx, `SELECT workspace, id_type, id_value, user_ids, coalesce(capped, false), alarm FROM rs_shared ORDER BY user_ids DESC, id_type, id_value`)
	if err != nil {
		return fmt.Errorf("resolve: read shared values: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a Alarm
		var alarm bool
		if err := rows.Scan(&a.Workspace, &a.Type, &a.Value, &a.UserIDs, &a.Capped, &alarm); err != nil {
			return fmt.Errorf("resolve: read shared values: %w", err)
		}
		if a.Capped {
			rep.Shared++
		}
		if alarm {
			rep.Alarms = append(rep.Alarms, a)
		}
	}
	return rows.Err()
}

// cluster runs union-find over the edges and assigns stable cdp ids into
// rs_assign(node, cdp_id), node being rs_nodes' rowid.
//
// Only integers and one row per cluster cross between DuckDB and Go: the
// union-find reads the edges as node pairs and writes each node's root to
// rs_label; DuckDB groups the members of each cluster (its size, its oldest
// member, the previous ids of its members, oldest first) and hands the
// clusters to Go oldest first; Go picks or mints each cluster's id into
// rs_cluster_id.
func cluster(ctx context.Context, sess *tsql.Session, st lake.Storage, cacheDir string, rep *Report) error {
	var maxNode int64
	if err := sess.QueryRow(ctx, "SELECT count(*), coalesce(max(rowid), -1) FROM rs_nodes").Scan(&rep.Identifiers, &maxNode); err != nil {
		return fmt.Errorf("resolve: count identifiers: %w", err)
	}
	if maxNode != rep.Identifiers-1 {
		return fmt.Errorf("resolve: node numbers of %d identifiers go up to %d: want dense rowids", rep.Identifiers, maxNode)
	}
	if err := sess.QueryRow(ctx, "SELECT count(*) FROM rs_edges").Scan(&rep.Edges); err != nil {
		return fmt.Errorf("resolve: count edges: %w", err)
	}
	uf := identity.NewUnionFind(int(rep.Identifiers))
	rows, err := sess.Query(ctx, `SELECT a.rowid, b.rowid FROM rs_edges e
		JOIN rs_nodes a ON a.workspace = e.workspace AND a.id_type = e.a_type AND a.id_value = e.a_value
		JOIN rs_nodes b ON b.workspace = e.workspace AND b.id_type = e.b_type AND b.id_value = e.b_value`)
	if err != nil {
		return fmt.Errorf("resolve: read edges: %w", err)
	}
	for rows.Next() {
		var a, b int64
		if err := rows.Scan(&a, &b); err != nil {
			rows.Close()
			return fmt.Errorf("resolve: read edges: %w", err)
		}
		uf.Union(int(a), int(b))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("resolve: read edges: %w", err)
	}
	if err := sess.Exec(ctx, "CREATE OR REPLACE TEMP TABLE rs_label (node BIGINT, label BIGINT)"); err != nil {
		return fmt.Errorf("resolve: write clusters: %w", err)
	}
	err = appendRows(sess, "rs_label", int(rep.Identifiers), func(a *duckdb.Appender, i int) error {
		return a.AppendRow(int64(i), int64(uf.Find(i)))
	})
	if err != nil {
		return fmt.Errorf("resolve: write clusters: %w", err)
	}

	if err := previousMap(ctx, sess, st, cacheDir); err != nil {
		return err
	}
	// Members are ordered by (first_seen, workspace, id_type, id_value); a
	// missing first_seen sorts first (Go's zero time, as before).
	if err := sess.Exec(ctx, `CREATE OR REPLACE TEMP TABLE rs_members AS
		SELECT l.label, {'t': coalesce(n.first_seen, TIMESTAMP '0001-01-01'), 'w': n.workspace, 'y': n.id_type, 'v': n.id_value} AS age,
			p.cdp_id AS prev
		FROM rs_label l JOIN rs_nodes n ON n.rowid = l.node
		LEFT JOIN rs_prev p USING (workspace, id_type, id_value)`); err != nil {
		return fmt.Errorf("resolve: group clusters: %w", err)
	}
	// Per cluster: size, oldest member, and the distinct previous ids in the
	// order their oldest holder was seen; clusters whose oldest member is
	// oldest come first, so when a previous id is claimed twice (a split)
	// the oldest part keeps it.
	rows, err = sess.Query(ctx, `WITH c AS (
			SELECT label, count(*) AS size, min(age) AS oldest FROM rs_members GROUP BY label
		), p AS (
			SELECT label, list(prev ORDER BY age) AS prevs
			FROM (SELECT label, prev, min(age) AS age FROM rs_members WHERE prev IS NOT NULL GROUP BY label, prev)
			GROUP BY label
		)
		SELECT c.label, c.size, c.oldest.w, c.oldest.y, c.oldest.v, p.prevs
		FROM c LEFT JOIN p USING (label)
		ORDER BY c.oldest`)
	if err != nil {
		return fmt.Errorf("resolve: read clusters: %w", err)
	}
	taken := map[string]bool{}
	prevClusters := map[string]int{}
	type assigned struct {
		label int64
		id    string
	}
	var assign []assigned
	for rows.Next() {
		var label, size int64
		var ws, typ, value string
		var prevs any
		if err := rows.Scan(&label, &size, &ws, &typ, &value, &prevs); err != nil {
			rows.Close()
			return fmt.Errorf("resolve: read clusters: %w", err)
		}
		rep.Profiles++
		rep.Histogram[bucket(int(size))]++
		id := ""
		list, _ := prevs.([]any)
		for _, v := range list {
			p := v.(string)
			prevClusters[p]++
			if id == "" && !taken[p] {
				id = p
			}
		}
		switch {
		case len(list) == 0:
			rep.NewProfiles++
		case len(list) > 1:
			rep.Merges += int64(len(list) - 1)
		}
		if id == "" {
			id = mint(ws, typ, value, taken)
		}
		taken[id] = true
		assign = append(assign, assigned{label, id})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("resolve: read clusters: %w", err)
	}
	for _, n := range prevClusters {
		if n > 1 {
			rep.Splits += int64(n - 1)
		}
	}
	if err := sess.Exec(ctx, "CREATE OR REPLACE TEMP TABLE rs_cluster_id (label BIGINT, cdp_id VARCHAR)"); err != nil {
		return fmt.Errorf("resolve: assign ids: %w", err)
	}
	err = appendRows(sess, "rs_cluster_id", len(assign), func(a *duckdb.Appender, i int) error {
		return a.AppendRow(assign[i].label, assign[i].id)
	})
	if err != nil {
		return fmt.Errorf("resolve: assign ids: %w", err)
	}
	if err := sess.Exec(ctx, `CREATE OR REPLACE TEMP TABLE rs_assign AS
		SELECT l.node, c.cdp_id FROM rs_label l JOIN rs_cluster_id c USING (label)`); err != nil {
		return fmt.Errorf("resolve: assign ids: %w", err)
	}
	for _, t := range []string{"rs_members", "rs_label", "rs_cluster_id"} {
		if err := sess.Exec(ctx, "DROP TABLE "+t); err != nil {
			return fmt.Errorf("resolve: assign ids: %w", err)
		}
	}
	return nil
}

// appendRows appends n rows to table through DuckDB's appender.
func appendRows(sess *tsql.Session, table string, n int, row func(a *duckdb.Appender, i int) error) error {
	return sess.Conn().Raw(func(dc any) error {
		a, err := duckdb.NewAppenderFromConn(dc.(driver.Conn), "", table)
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			if err := row(a, i); err != nil {
				a.Close()
				return err
			}
		}
		return a.Close()
	})
}

// mint derives a new cdp id from a cluster's oldest identifier, so the
// same history always mints the same id.
func mint(ws, typ, value string, taken map[string]bool) string {
	// The speed layer's derivation first, so both layers agree on ids.
	if id := identity.CDPID(ws, typ, value); !taken[id] {
		return id
	}
	seed := ws + "\x00" + typ + "\x00" + value
	for i := 0; ; i++ {
		sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d", seed, i)))
		id := "cdp_" + hex.EncodeToString(sum[:10])
		if !taken[id] {
			return id
		}
	}
}

func previousMap(ctx context.Context, sess *tsql.Session, st lake.Storage, cacheDir string) error {
	empty := "CREATE OR REPLACE TEMP TABLE rs_prev (workspace VARCHAR, id_type VARCHAR, id_value VARCHAR, cdp_id VARCHAR)"
	files, err := lake.CommittedFiles(ctx, st, TableIdentityMap)
	if err != nil && !lake.IsNotExist(err) {
		return fmt.Errorf("resolve: list %s: %w", TableIdentityMap, err)
	}
	if len(files) == 0 {
		return sess.Exec(ctx, empty)
	}
	keys := make([]string, len(files))
	for i, f := range files {
		keys[i] = f.Path
	}
	paths, err := tsql.LocalPaths(ctx, st, keys, cacheDir)
	if err != nil {
		return fmt.Errorf("resolve: fetch previous map: %w", err)
	}
	if err := sess.CreateParquetView(ctx, "rs_prev_files", paths); err != nil {
		return fmt.Errorf("resolve: read previous map: %w", err)
	}
	// One id per identifier (the map has one; min keeps a damaged one
	// deterministic).
	return sess.Exec(ctx, `CREATE OR REPLACE TEMP TABLE rs_prev AS
		SELECT workspace, id_type, id_value, min(cdp_id) AS cdp_id FROM rs_prev_files GROUP BY ALL`)
}

// newEdges is the view rs_new_edges of the edges no earlier run recorded
// (computed once, by the export).
func newEdges(ctx context.Context, sess *tsql.Session, st lake.Storage, cacheDir, runID string) error {
	files, err := lake.CommittedFiles(ctx, st, TableIdentityEdges)
	if err != nil && !lake.IsNotExist(err) {
		return fmt.Errorf("resolve: list %s: %w", TableIdentityEdges, err)
	}
	// (A view cannot hold a bound parameter: the run id is quoted.)
	q := `CREATE OR REPLACE TEMP VIEW rs_new_edges AS SELECT *, ` + tsql.QuoteLiteral(runID) + ` AS run_id FROM rs_edges`
	if len(files) > 0 {
		keys := make([]string, len(files))
		for i, f := range files {
			keys[i] = f.Path
		}
		paths, err := tsql.LocalPaths(ctx, st, keys, cacheDir)
		if err != nil {
			return fmt.Errorf("resolve: fetch edges: %w", err)
		}
		if err := sess.CreateParquetView(ctx, "rs_old_edges", paths); err != nil {
			return fmt.Errorf("resolve: read edges: %w", err)
		}
		q = `CREATE OR REPLACE TEMP VIEW rs_new_edges AS SELECT e.*, ` + tsql.QuoteLiteral(runID) + ` AS run_id FROM rs_edges e
			ANTI JOIN rs_old_edges o USING (workspace, a_type, a_value, b_type, b_value, rule, source, record)`
	}
	if err := sess.Exec(ctx, q); err != nil {
		return fmt.Errorf("resolve: new edges: %w", err)
	}
	return nil
}

// writeTable writes relation as Parquet partitioned by workspace (in the
// order of key; "" for none), uploads the files and commits the manifest:
// appended to, or replacing, the table's files. It returns the files written.
func writeTable(ctx context.Context, sess *tsql.Session, st lake.Storage, spool, table, relation, key, runID string, appendFiles bool, watermark map[int32]int64, who lake.CommitInfo) ([]lake.File, error) {
	files, err := sess.ExportPartitioned(ctx, st, relation, key, table, spool, runID)
	if err != nil {
		return nil, fmt.Errorf("resolve: %w", err)
	}
	_, err = lake.Commit(ctx, st, table, who, func(m *lake.Manifest) error {
		if appendFiles {
			m.Files = append(m.Files, files...)
		} else {
			m.Files = files
		}
		if watermark != nil {
			m.Offsets = watermark
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("resolve: commit %s: %w", table, err)
	}
	return files, nil
}
