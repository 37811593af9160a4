// Package curate builds the golden profiles: one row per cdp_id from every
// source and event, with survivorship rules per attribute and the
// provenance of each winning value, the computed traits the speed layer
// also keeps, batch-only RFM traits, and segment membership. Each build
// states its watermark: the per-partition Kafka offsets of the events it
// includes, so the speed layer can replay exactly what came after.
package curate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/batch/ingest"
	"github.com/tributary-cdp/tributary/internal/plural"
	"github.com/tributary-cdp/tributary/lake"
	tsql "github.com/tributary-cdp/tributary/sql"
)

// Tables the curate job reads and writes.
const (
	TableIdentityMap       = "curated/identity_map"
	TableProfiles          = "curated/profiles"
	TableSegmentMembership = "curated/segment_membership"
)

// Survivorship rules.
const (
	RuleMostRecent     = "most_recent"
	RuleFirstNonEmpty  = "first_non_empty"
	RuleMostFrequent   = "most_frequent"
	RuleSourcePriority = "source_priority"
)

// Rule decides which source's value of an attribute wins.
type Rule struct {
	Attribute string   `yaml:"attribute"`
	Rule      string   `yaml:"rule"`
	Priority  []string `yaml:"priority,omitempty"` // source names, best first; "events" is the web
}

// Validate checks the rule.
func (r Rule) Validate() error {
	switch r.Rule {
	case RuleMostRecent, RuleFirstNonEmpty, RuleMostFrequent:
	case RuleSourcePriority:
		if len(r.Priority) == 0 {
			return fmt.Errorf("survivorship of %q: source_priority needs a priority list", r.Attribute)
		}
	default:
		return fmt.Errorf("survivorship of %q: rule %q is not most_recent, first_non_empty, most_frequent or source_priority", r.Attribute, r.Rule)
	}
	if r.Attribute == "" {
		return errors.New("survivorship rule without attribute")
	}
	return nil
}

// Config of one build.
type Config struct {
	Storage lake.Storage
	SQL     tsql.Config
	// SpoolDir holds files DuckDB writes before they are uploaded.
	SpoolDir string
	// CacheDir holds local copies of an S3 lake's files.
	CacheDir string
	// DefaultRule applies to attributes without a rule.
	DefaultRule string
	Rules       []Rule
	// Sources are the registered sources; those of kind profiles feed attributes.
	Sources  []*ingest.Source
	Segments []*cdp.Segment
	// IdentifierTraits maps an identify trait to the identifier type it
	// carries (speed.identifier_traits): an event none of whose ids is in
	// the identity map belongs to the profile of such a trait's value.
	IdentifierTraits map[string]string
	Now              func() time.Time
}

// DefaultConfig uses most_recent for every attribute.
func DefaultConfig() Config {
	return Config{DefaultRule: RuleMostRecent, IdentifierTraits: map[string]string{"email": cdp.IDEmail, "phone": cdp.IDPhone}, Now: time.Now}
}

// Validate checks the config.
func (c Config) Validate() error {
	if c.Storage == nil {
		return errors.New("curate: no lake storage")
	}
	if err := (Rule{Attribute: "*", Rule: c.DefaultRule, Priority: []string{"events"}}).Validate(); err != nil {
		return fmt.Errorf("curate default rule: %w", err)
	}
	for _, r := range c.Rules {
		if err := r.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Result of a build.
type Result struct {
	Profiles    int64
	Events      int64
	Memberships int64
	Segments    map[string]int64 // "<workspace>/<segment>" → members
	Watermark   map[int32]int64
	Version     int64 // manifest version of curated/profiles
}

// Counts for the job history.
func (r Result) Counts() map[string]int64 {
	return map[string]int64{"profiles": r.Profiles, "events": r.Events, "memberships": r.Memberships}
}

func (r Result) String() string {
	s := fmt.Sprintf("%s from %s, %s, watermark %s", plural.Count(r.Profiles, "golden profile"), plural.Count(r.Events, "event"),
		plural.Count(r.Memberships, "segment membership"), FormatWatermark(r.Watermark))
	segs := make([]string, 0, len(r.Segments))
	for k, n := range r.Segments {
		segs = append(segs, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(segs)
	if len(segs) > 0 {
		s += "; segments " + strings.Join(segs, " ")
	}
	return s
}

// FormatWatermark prints "p0:12 p1:40 …".
func FormatWatermark(w map[int32]int64) string {
	ps := make([]int, 0, len(w))
	for p := range w {
		ps = append(ps, int(p))
	}
	sort.Ints(ps)
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = fmt.Sprintf("p%d:%d", p, w[int32(p)])
	}
	return strings.Join(parts, " ")
}

// Run builds curated/profiles and curated/segment_membership.
func Run(ctx context.Context, cfg Config, runID string) (Result, error) {
	var res Result
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	st := cfg.Storage
	asOf := cfg.Now().UTC()

	idm, err := lake.LatestManifest(ctx, st, TableIdentityMap)
	if err != nil {
		return res, fmt.Errorf("curate: read %s manifest: %w", TableIdentityMap, err)
	}
	if idm.Version == 0 {
		return res, fmt.Errorf("curate: %s has no committed build; run the resolve job first", TableIdentityMap)
	}
	// The watermark is what the identity map was resolved from, so every
	// identifier of the included events is in the map.
	watermark := idm.Offsets
	if watermark == nil {
		ev, err := lake.LatestManifest(ctx, st, lake.TableEvents)
		if err != nil {
			return res, err
		}
		watermark = ev.Offsets
	}
	res.Watermark = watermark
	evFiles, err := eventFiles(ctx, st, watermark)
	if err != nil {
		return res, err
	}

	spool, err := os.MkdirTemp(cfg.SpoolDir, "tributary-curate-")
	if err != nil {
		return res, fmt.Errorf("curate: spool dir: %w", err)
	}
	defer os.RemoveAll(spool)
	scfg := cfg.SQL
	if scfg.TempDir == "" {
		scfg.TempDir = filepath.Join(spool, "duckdb")
	}
	sess, err := tsql.Open(ctx, scfg)
	if err != nil {
		return res, err
	}
	defer sess.Close()

	if err := createInputs(ctx, sess, st, cfg.CacheDir, evFiles, idm.Files); err != nil {
		return res, err
	}
	if err := sess.Exec(ctx, "CREATE OR REPLACE TEMP TABLE cur_id_traits (trait VARCHAR, id_type VARCHAR, path VARCHAR)"); err != nil {
		return res, fmt.Errorf("curate: identifier traits: %w", err)
	}
	for t, typ := range cfg.IdentifierTraits {
		if err := sess.Exec(ctx, "INSERT INTO cur_id_traits VALUES ($1, $2, $3)", t, typ, tsql.MemberPath(t)); err != nil {
			return res, fmt.Errorf("curate: identifier traits: %w", err)
		}
	}
	if err := sess.Run(ctx, "curate_events.sql", nil); err != nil {
		return res, fmt.Errorf("curate events: %w", err)
	}
	if err := createCandidates(ctx, sess, st, cfg); err != nil {
		return res, err
	}
	if err := createRules(ctx, sess, cfg.Rules); err != nil {
		return res, err
	}
	if err := sess.Run(ctx, "curate_winners.sql", map[string]any{"default_rule": cfg.DefaultRule}); err != nil {
		return res, fmt.Errorf("curate winners: %w", err)
	}
	if err := createGolden(ctx, sess); err != nil {
		return res, err
	}
	if err := sess.Run(ctx, "curate_profiles.sql", map[string]any{"as_of": asOf}); err != nil {
		return res, fmt.Errorf("curate profiles: %w", err)
	}
	if err := sess.Exec(ctx, `CREATE OR REPLACE TEMP TABLE cur_membership (workspace VARCHAR, cdp_id VARCHAR, segment_id VARCHAR, as_of TIMESTAMP)`); err != nil {
		return res, err
	}
	if len(cfg.Segments) > 0 {
		q, err := tsql.CompileSegmentsOverDays(cfg.Segments, asOf)
		if err != nil {
			return res, err
		}
		args := append([]any{}, q.Args...)
		// The segment relations' cdp_id is the profile's pid (curate_profiles.sql).
		if err := sess.Exec(ctx, "INSERT INTO cur_membership SELECT i.workspace, i.cdp_id, m.segment_id, $"+fmt.Sprint(len(args)+1)+
			" FROM ("+q.SQL+") AS m JOIN cur_ids AS i ON i.pid = m.cdp_id", append(args, asOf)...); err != nil {
			return res, fmt.Errorf("curate segment membership: %w", err)
		}
	}
	if err := sess.QueryRow(ctx, `SELECT (SELECT count(*) FROM cur_ids), (SELECT count(*) FROM cur_ev), (SELECT count(*) FROM cur_membership)`).
		Scan(&res.Profiles, &res.Events, &res.Memberships); err != nil {
		return res, err
	}
	res.Segments = map[string]int64{}
	rows, err := sess.Query(ctx, `SELECT workspace || '/' || segment_id, count(*) FROM cur_membership GROUP BY ALL`)
	if err != nil {
		return res, err
	}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			rows.Close()
			return res, err
		}
		res.Segments[k] = n
	}
	rows.Close()

	who := lake.CommitInfo{Job: "curate", RunID: runID}
	for _, out := range []struct{ table, relation, key string }{
		{TableSegmentMembership, "cur_membership", "ALL"},
		{TableProfiles, "cur_profiles_out", "workspace, cdp_id"}, // last: its manifest marks the build complete
	} {
		m, err := writeTable(ctx, sess, st, spool, out.table, out.relation, out.key, runID, watermark, who)
		if err != nil {
			return res, err
		}
		if out.table == TableProfiles {
			res.Version = m.Version
		}
	}
	return res, nil
}

// eventFiles are the committed raw/events files entirely below w.
func eventFiles(ctx context.Context, st lake.Storage, w map[int32]int64) ([]lake.File, error) {
	files, err := lake.CommittedFiles(ctx, st, lake.TableEvents)
	if err != nil && !lake.IsNotExist(err) {
		return nil, fmt.Errorf("curate: list %s: %w", lake.TableEvents, err)
	}
	var out []lake.File
	for _, f := range files {
		if f.Kafka != nil && f.Kafka.Last < w[f.Kafka.Partition] {
			out = append(out, f)
		}
	}
	return out, nil
}

func keys(files []lake.File) []string {
	k := make([]string, len(files))
	for i, f := range files {
		k[i] = f.Path
	}
	return k
}

func readParquet(paths []string) string {
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = tsql.QuoteLiteral(p)
	}
	return "read_parquet([" + strings.Join(q, ", ") + "], union_by_name = true)"
}

// createInputs creates cur_events_raw and cur_idmap over local copies of the files.
func createInputs(ctx context.Context, sess *tsql.Session, st lake.Storage, cacheDir string, events, idmap []lake.File) error {
	evPaths, err := tsql.LocalPaths(ctx, st, keys(events), cacheDir)
	if err != nil {
		return err
	}
	if len(evPaths) == 0 {
		err = sess.CreateEmptyTable(ctx, "cur_events_raw", lake.TableEvents)
	} else {
		err = sess.Exec(ctx, `CREATE OR REPLACE TEMP VIEW cur_events_raw AS SELECT * FROM `+readParquet(evPaths))
	}
	if err != nil {
		return fmt.Errorf("curate: read events: %w", err)
	}
	idPaths, err := tsql.LocalPaths(ctx, st, keys(idmap), cacheDir)
	if err != nil {
		return err
	}
	idSQL := `CREATE OR REPLACE TEMP TABLE cur_idmap (workspace VARCHAR, id_type VARCHAR, id_value VARCHAR, cdp_id VARCHAR)`
	if len(idPaths) > 0 {
		idSQL = `CREATE OR REPLACE TEMP TABLE cur_idmap AS SELECT DISTINCT workspace, id_type, id_value, cdp_id FROM ` + readParquet(idPaths)
	}
	if err := sess.Exec(ctx, idSQL); err != nil {
		return fmt.Errorf("curate: read identity map: %w", err)
	}
	return nil
}

// createCandidates gathers every attribute value for every profile:
// identify traits of events, and the fields of profile sources.
func createCandidates(ctx context.Context, sess *tsql.Session, st lake.Storage, cfg Config) error {
	if err := sess.Exec(ctx, `CREATE OR REPLACE TEMP TABLE cur_candidates AS
		SELECT pid, name AS attr, value, 'events' AS source, record, ts, kafka_partition, kafka_offset FROM cur_event_traits`); err != nil {
		return fmt.Errorf("curate: event candidates: %w", err)
	}
	for _, src := range cfg.Sources {
		if src.Kind != "profiles" {
			continue
		}
		files, err := lake.CommittedFiles(ctx, st, src.Table())
		if err != nil {
			if lake.IsNotExist(err) {
				continue
			}
			return fmt.Errorf("curate: list %s: %w", src.Table(), err)
		}
		if len(files) == 0 {
			continue
		}
		paths, err := tsql.LocalPaths(ctx, st, keys(files), cfg.CacheDir)
		if err != nil {
			return err
		}
		if err := sourceCandidates(ctx, sess, src, paths); err != nil {
			return err
		}
	}
	return nil
}

// sourceCandidates unpivots one profile source. Column names come from
// the validated source definition and are quoted as identifiers.
func sourceCandidates(ctx context.Context, sess *tsql.Session, src *ingest.Source, paths []string) error {
	ids := src.Identifiers() // field → identifier type
	fields := make([]string, 0, len(src.Fields))
	for _, f := range src.Fields {
		fields = append(fields, f.Name)
	}
	sort.Strings(fields)
	ws := tsql.QuoteLiteral(src.Workspace) // whose region reads the phone numbers
	var joins, cdp []string
	for i, f := range fields {
		typ, ok := ids[f]
		if !ok {
			continue
		}
		a := fmt.Sprintf("m%d", i)
		joins = append(joins, fmt.Sprintf("LEFT JOIN cur_idmap_k AS %s ON %s.workspace = %s AND %s.id_type = %s AND %s.id_value = normalize_identifier(%s, %s, CAST(r.%s AS VARCHAR))",
			a, a, ws, a, tsql.QuoteLiteral(typ), a, ws, tsql.QuoteLiteral(typ), tsql.QuoteIdent(f)))
		cdp = append(cdp, a+".pid")
	}
	if len(cdp) == 0 {
		return nil // no identifier: the source's rows cannot be attached to profiles
	}
	recordCol := "concat(r._file, ':', r._line)"
	for _, f := range fields {
		if fd := src.Field(f); fd != nil && fd.Required && ids[f] != "" {
			recordCol = "CAST(r." + tsql.QuoteIdent(f) + " AS VARCHAR)"
			break
		}
	}
	// The source's rows with their profile first, then one SELECT per
	// field: an unnest of a list of (attr, value) structs per row cost
	// twice as much. NULL fields offer nothing (survivorship skips them).
	var cols, sel []string
	for i, f := range fields {
		cols = append(cols, fmt.Sprintf("r.%s AS f%d", tsql.QuoteIdent(f), i))
		sel = append(sel, fmt.Sprintf("SELECT pid, %s AS attr, to_json(f%d) AS value, %s AS source, record, ts, NULL, NULL FROM cur_src WHERE f%d IS NOT NULL",
			tsql.QuoteLiteral(f), i, tsql.QuoteLiteral(src.Name), i))
	}
	q := fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE cur_src AS
		SELECT * FROM (
		  SELECT coalesce(%s) AS pid, %s AS record, CAST(r._ingested_at AS TIMESTAMP) AS ts, %s
		  FROM (SELECT * FROM %s) AS r %s
		) WHERE pid IS NOT NULL`,
		strings.Join(cdp, ", "), recordCol, strings.Join(cols, ", "), readParquet(paths), strings.Join(joins, "\n"))
	if err := sess.Exec(ctx, q); err != nil {
		return fmt.Errorf("curate: rows of source %s: %w", src.Name, err)
	}
	if err := sess.Exec(ctx, "INSERT INTO cur_candidates "+strings.Join(sel, "\nUNION ALL\n")); err != nil {
		return fmt.Errorf("curate: candidates of source %s: %w", src.Name, err)
	}
	return sess.Exec(ctx, `DROP TABLE cur_src`)
}

// goldenRadix is how many ranks one aggregate of goldenSQL orders.
const goldenRadix = 16

// createGolden creates cur_golden (pid, traits, provenance) from the
// winners' fragments, and drops what only the winners needed.
func createGolden(ctx context.Context, sess *tsql.Session) error {
	var attrs int
	if err := sess.QueryRow(ctx, `SELECT count(*) FROM cur_attrs`).Scan(&attrs); err != nil {
		return fmt.Errorf("curate: attributes: %w", err)
	}
	if err := sess.Exec(ctx, goldenSQL(attrs)); err != nil {
		return fmt.Errorf("curate: golden traits: %w", err)
	}
	for _, t := range []string{"cur_winners", "cur_candidates", "cur_event_traits"} {
		if err := sess.Exec(ctx, "DROP TABLE "+t); err != nil {
			return err
		}
	}
	return nil
}

// goldenSQL joins each profile's fragments (cur_winners) into JSON objects
// with the keys in name order, whatever order threads give the rows. One
// filtered aggregate per rank picks a profile's fragment of that rank and
// concat_ws joins those present: half the CPU of sorting a list per
// profile (list_sort(list(struct))), and unlike lists it spills under
// memory pressure. Past goldenRadix attributes, each level orders
// goldenRadix ranks and the next one the groups of the level below.
func goldenSQL(attrs int) string {
	var b strings.Builder
	b.WriteString("CREATE OR REPLACE TEMP TABLE cur_golden AS\nWITH l0 AS (SELECT pid, r, t, p FROM cur_winners)")
	level := 0
	for n := attrs; ; n = (n + goldenRadix - 1) / goldenRadix {
		k := max(min(n, goldenRadix), 1)
		ts, ps := make([]string, k), make([]string, k)
		for i := range k {
			ts[i] = fmt.Sprintf("any_value(t) FILTER (WHERE i = %d)", i)
			ps[i] = fmt.Sprintf("any_value(p) FILTER (WHERE i = %d)", i)
		}
		last := n <= goldenRadix
		cols, group := "pid", "pid"
		if !last {
			cols, group = "pid, g AS r", "pid, g"
		}
		fmt.Fprintf(&b, ",\nl%d AS (SELECT %s, concat_ws(',', %s) AS t, concat_ws(',', %s) AS p\n  FROM (SELECT pid, r // %d AS g, r %% %d AS i, t, p FROM l%d) GROUP BY %s)",
			level+1, cols, strings.Join(ts, ", "), strings.Join(ps, ", "), goldenRadix, goldenRadix, level, group)
		level++
		if last {
			break
		}
	}
	fmt.Fprintf(&b, "\nSELECT pid, '{' || t || '}' AS traits, '{' || p || '}' AS provenance FROM l%d", level)
	return b.String()
}

func createRules(ctx context.Context, sess *tsql.Session, rules []Rule) error {
	if err := sess.Exec(ctx, `CREATE OR REPLACE TEMP TABLE cur_rules (attr VARCHAR, rule VARCHAR, priority VARCHAR[])`); err != nil {
		return err
	}
	for _, r := range rules {
		if err := sess.Exec(ctx, `INSERT INTO cur_rules VALUES ($1, $2, $3)`, r.Attribute, r.Rule, r.Priority); err != nil {
			return fmt.Errorf("curate: survivorship rule %s: %w", r.Attribute, err)
		}
	}
	return nil
}

// writeTable writes relation as Parquet partitioned by workspace, uploads
// the files and commits the table's manifest with the watermark.
func writeTable(ctx context.Context, sess *tsql.Session, st lake.Storage, spool, table, relation, key, runID string, w map[int32]int64, who lake.CommitInfo) (*lake.Manifest, error) {
	files, err := sess.ExportPartitioned(ctx, st, relation, key, table, spool, runID)
	if err != nil {
		return nil, fmt.Errorf("curate: %w", err)
	}
	m, err := lake.Commit(ctx, st, table, who, func(m *lake.Manifest) error {
		m.Files = files // a build replaces the previous one whole
		m.Offsets = w
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("curate: commit %s: %w", table, err)
	}
	return m, nil
}
