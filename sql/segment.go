package sql

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	cdp "github.com/tributary-cdp/tributary"
)

// Relations the segment SQL reads. Whoever runs it (the curate job) creates
// views with these names first; the compiler never emits any other
// identifier, and every value from a segment definition is a bound
// parameter.
//
//	segment_profiles     one row per profile
//	  workspace      VARCHAR
//	  cdp_id         VARCHAR
//	  traits         VARCHAR or JSON: the profile's traits as a JSON object (may be NULL)
//	  events_total   numeric (NULL counts as 0)
//	  page_views     numeric (NULL counts as 0)
//	  revenue_total  numeric (NULL counts as 0)
//	  orders_total   numeric (NULL counts as 0)
//	  first_seen     TIMESTAMP (UTC) or TIMESTAMPTZ, NULL when unknown
//	  last_seen      TIMESTAMP (UTC) or TIMESTAMPTZ, NULL when unknown
//
//	segment_events       one row per event of a profile (only type and event matter)
//	  workspace      VARCHAR
//	  cdp_id         VARCHAR  the resolved profile the event belongs to
//	  type           VARCHAR  'track', 'page', … (only 'track' rows are counted)
//	  event          VARCHAR  the track event name
//	  timestamp      TIMESTAMP (UTC) or TIMESTAMPTZ
//
//	segment_identifiers  one row per identifier of a profile (identity_map)
//	  workspace      VARCHAR
//	  cdp_id         VARCHAR
//	  type           VARCHAR  email, phone, user_id, …
//
// The event_counts.<name> computed trait is counted from segment_events, so
// it needs no column.
const (
	SegmentProfilesRelation    = "segment_profiles"
	SegmentEventsRelation      = "segment_events"
	SegmentIdentifiersRelation = "segment_identifiers"
	SegmentEventDaysRelation   = "segment_event_days" // CompileSegmentsOverDays
)

// SegmentQuery is compiled SQL with its arguments for the numbered
// parameters $1, $2, … it contains.
type SegmentQuery struct {
	SQL  string
	Args []any
}

// CompileSegment compiles a validated segment to a SELECT that returns the
// members as rows (workspace VARCHAR, cdp_id VARCHAR, segment_id VARCHAR).
// now fixes relative windows ("within 30 days"); the curate job passes the
// time its build is as of, so the batch answer matches what the speed layer
// computes at that time.
func CompileSegment(seg *cdp.Segment, now time.Time) (SegmentQuery, error) {
	return CompileSegments([]*cdp.Segment{seg}, now)
}

// CompileSegments compiles several segments to one query: the UNION ALL
// of their membership SELECTs (see CompileSegment). Track events are first
// counted per profile, name and UTC day in a CTE (segment_event_days), which
// every event condition then reads: windows start at UTC midnight
// (cdp.WindowStart), so day counts answer them exactly.
func CompileSegments(segs []*cdp.Segment, now time.Time) (SegmentQuery, error) {
	q, err := CompileSegmentsOverDays(segs, now)
	if err != nil {
		return q, err
	}
	q.SQL = eventDaysCTE + q.SQL
	return q, nil
}

// CompileSegmentsOverDays is CompileSegments for a caller that has counted
// the days already: the SQL reads a relation segment_event_days instead of
// counting segment_events itself (curate counts them for the event_days
// trait).
//
//	segment_event_days   one row per profile, track event name and UTC day
//	  workspace      VARCHAR
//	  cdp_id         VARCHAR
//	  event          VARCHAR
//	  day            integer: days since 1970-01-01
//	  n              numeric: the events of that day
func CompileSegmentsOverDays(segs []*cdp.Segment, now time.Time) (SegmentQuery, error) {
	if len(segs) == 0 {
		return SegmentQuery{}, fmt.Errorf("compile segments: no segment")
	}
	c := &segCompiler{now: now, days: true}
	var sb strings.Builder
	for i, seg := range segs {
		if i > 0 {
			sb.WriteString("\nUNION ALL\n")
		}
		expr, err := c.condition(&seg.Condition, "condition")
		if err != nil {
			return SegmentQuery{}, fmt.Errorf("compile segment %s/%s: %w", seg.Workspace, seg.ID, err)
		}
		fmt.Fprintf(&sb, "SELECT p.workspace, p.cdp_id, CAST(%s AS VARCHAR) AS segment_id\nFROM %s AS p\nWHERE p.workspace = %s\n  AND (%s)",
			c.arg(seg.ID), SegmentProfilesRelation, c.arg(seg.Workspace), expr)
	}
	return SegmentQuery{SQL: sb.String(), Args: c.args}, nil
}

// eventDaysCTE counts track events per profile, name and UTC day (days
// since 1970-01-01, floored also before 1970).
const eventDaysCTE = `WITH ` + SegmentEventDaysRelation + ` AS MATERIALIZED (
  SELECT workspace, cdp_id, event,
    epoch_us(e."timestamp") // 86400000000 - CASE WHEN epoch_us(e."timestamp") % 86400000000 < 0 THEN 1 ELSE 0 END AS day,
    count(*) AS n
  FROM ` + SegmentEventsRelation + ` AS e
  WHERE e."type" = 'track'
  GROUP BY ALL
)
`

// CompileSegmentCondition compiles only the segment's condition, a boolean
// SQL expression over the alias p of segment_profiles (it reads
// segment_events and segment_identifiers in subqueries). Its parameters
// are numbered from first; use it to embed a segment in a larger query.
func CompileSegmentCondition(seg *cdp.Segment, now time.Time, first int) (SegmentQuery, error) {
	c := &segCompiler{now: now, base: first - 1}
	expr, err := c.condition(&seg.Condition, "condition")
	if err != nil {
		return SegmentQuery{}, fmt.Errorf("compile segment %s/%s: %w", seg.Workspace, seg.ID, err)
	}
	return SegmentQuery{SQL: expr, Args: c.args}, nil
}

type segCompiler struct {
	now  time.Time
	base int
	args []any
	// days: count events from the segment_event_days CTE rather than from
	// segment_events directly.
	days bool
}

// arg binds v and returns its placeholder.
func (c *segCompiler) arg(v any) string {
	c.args = append(c.args, v)
	return "$" + strconv.Itoa(c.base+len(c.args))
}

// timeSQL is the RFC 3339 test the Go evaluator applies (cdp.ParseTime),
// as a fixed SQL literal.
var timeSQL = "'" + strings.ReplaceAll(cdp.RFC3339Pattern, "'", "''") + "'"

const numericJSONTypes = "('BIGINT', 'UBIGINT', 'HUGEINT', 'DOUBLE')"

var sqlOps = map[cdp.Op]string{
	cdp.OpEq: "=", cdp.OpNeq: "<>", cdp.OpGt: ">", cdp.OpGte: ">=", cdp.OpLt: "<", cdp.OpLte: "<=",
}

func (c *segCompiler) condition(n *cdp.Condition, path string) (string, error) {
	switch {
	case n.All != nil || n.Any != nil:
		list, key, join := n.All, "all", " AND "
		if n.Any != nil {
			list, key, join = n.Any, "any", " OR "
		}
		if len(list) == 0 {
			return "", fmt.Errorf("%s.%s: empty list", path, key)
		}
		parts := make([]string, len(list))
		for i := range list {
			s, err := c.condition(&list[i], fmt.Sprintf("%s.%s[%d]", path, key, i))
			if err != nil {
				return "", err
			}
			parts[i] = "(" + s + ")"
		}
		return strings.Join(parts, join), nil
	case n.Not != nil:
		s, err := c.condition(n.Not, path+".not")
		if err != nil {
			return "", err
		}
		return "NOT (" + s + ")", nil
	case n.Trait != nil:
		return c.trait(n.Trait, path+".trait")
	case n.Computed != nil:
		return c.computed(n.Computed, path+".computed")
	case n.Identifier != nil:
		return fmt.Sprintf("EXISTS (SELECT 1 FROM %s AS i WHERE i.workspace = p.workspace AND i.cdp_id = p.cdp_id AND i.\"type\" = %s)",
			SegmentIdentifiersRelation, c.arg(n.Identifier.Type)), nil
	case n.Event != nil:
		min := n.Event.Min()
		var since time.Time
		if n.Event.WithinDays > 0 {
			since = c.cutoff(n.Event.WithinDays)
		}
		return c.eventCount(n.Event.Name, since) + " >= " + c.arg(int64(min)), nil
	}
	return "", fmt.Errorf("%s: empty condition", path)
}

// eventCount counts a profile's track events named name since a time (all
// time when since is zero; since is always a UTC midnight).
func (c *segCompiler) eventCount(name string, since time.Time) string {
	if c.days {
		s := "(SELECT COALESCE(sum(d.n), 0) FROM " + SegmentEventDaysRelation + " AS d WHERE d.workspace = p.workspace AND d.cdp_id = p.cdp_id AND d.event = " + c.arg(name)
		if !since.IsZero() {
			s += " AND d.day >= " + c.arg(since.Unix()/86400)
		}
		return s + ")"
	}
	s := fmt.Sprintf("(SELECT count(*) FROM %s AS e WHERE e.workspace = p.workspace AND e.cdp_id = p.cdp_id AND e.\"type\" = 'track' AND e.event = %s",
		SegmentEventsRelation, c.arg(name))
	if !since.IsZero() {
		s += " AND epoch_us(e.\"timestamp\") >= " + c.arg(since.UnixMicro())
	}
	return s + ")"
}

func (c *segCompiler) cutoff(days int) time.Time {
	return cdp.WindowStart(c.now, days)
}

// trait compiles a comparison of a trait read from the traits JSON.
func (c *segCompiler) trait(m *cdp.Comparison, path string) (string, error) {
	parts, err := cdp.TraitPath(m.Name)
	if err != nil {
		return "", fmt.Errorf("%s.name: %w", path, err)
	}
	jp := `$."` + strings.Join(parts, `"."`) + `"`
	k := c.arg(jp)
	doc := c.traitsFor(parts)
	typ := "json_type(" + doc + ", " + k + ")"
	str := "json_extract_string(" + doc + ", " + k + ")"

	var expr string
	switch m.Op {
	case cdp.OpExists:
		return "COALESCE(" + typ + " <> 'NULL', false)", nil
	case cdp.OpNotExists:
		return "NOT COALESCE(" + typ + " <> 'NULL', false)", nil
	case cdp.OpWithin, cdp.OpOlderThan:
		expr = c.traitTime(typ, str) + timeCutoffOp(m.Op) + c.arg(c.cutoff(m.Days).UnixMicro())
	case cdp.OpIn:
		list, ok := m.Value.([]any)
		if !ok || len(list) == 0 {
			return "", fmt.Errorf("%s.value: in needs a list", path)
		}
		ors := make([]string, len(list))
		for i, lit := range list {
			s, err := c.traitCompare(cdp.OpEq, lit, doc, k, typ, str, jp)
			if err != nil {
				return "", fmt.Errorf("%s.value[%d]: %w", path, i, err)
			}
			ors[i] = "(" + s + ")"
		}
		expr = strings.Join(ors, " OR ")
	default:
		expr, err = c.traitCompare(m.Op, m.Value, doc, k, typ, str, jp)
		if err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
	}
	return "COALESCE(" + expr + ", false)", nil
}

// traitsFor is the traits text to read the path parts from. The profile's
// traits are each once, but a nested object may repeat a key: its last
// value counts, as in the speed layer, where DuckDB's paths take the
// first. Only a text that may repeat a nested key of the path (written
// twice, or with an escape) goes through json_last.
func (c *segCompiler) traitsFor(parts []string) string {
	if len(parts) == 1 {
		return "p.traits"
	}
	may := []string{`contains(p.traits, '\')`}
	for _, part := range parts[1:] {
		q := c.arg(`"` + part + `"`)
		may = append(may, "contains(substr(p.traits, strpos(p.traits, "+q+") + length("+q+")), "+q+")")
	}
	return "(CASE WHEN " + strings.Join(may, " OR ") + " THEN json_last(p.traits) ELSE p.traits END)"
}

func (c *segCompiler) traitTime(typ, str string) string {
	return typ + " = 'VARCHAR' AND regexp_full_match(" + str + ", " + timeSQL + ") AND epoch_us(TRY_CAST(" + str + " AS TIMESTAMPTZ))"
}

func timeCutoffOp(op cdp.Op) string {
	if op == cdp.OpWithin {
		return " >= "
	}
	return " < "
}

// traitCompare compiles op against one normalized literal; as in Go, a
// trait of another type than the literal never matches.
func (c *segCompiler) traitCompare(op cdp.Op, lit any, doc, k, typ, str, jp string) (string, error) {
	switch l := lit.(type) {
	case float64:
		o, ok := sqlOps[op]
		if !ok {
			return "", fmt.Errorf("op %s does not apply to numbers", op)
		}
		return typ + " IN " + numericJSONTypes + " AND TRY_CAST(json_extract(" + doc + ", " + k + ") AS DOUBLE) " + o + " " + c.arg(l), nil
	case bool:
		if op != cdp.OpEq && op != cdp.OpNeq {
			return "", fmt.Errorf("op %s does not apply to booleans", op)
		}
		return typ + " = 'BOOLEAN' AND (" + str + " = 'true') " + sqlOps[op] + " " + c.arg(l), nil
	case time.Time:
		o, ok := sqlOps[op]
		if !ok {
			return "", fmt.Errorf("op %s does not apply to times", op)
		}
		return c.traitTime(typ, str) + " " + o + " " + c.arg(l.UnixMicro()), nil
	case string:
		switch op {
		case cdp.OpContains:
			v := c.arg(l)
			return "(" + typ + " = 'VARCHAR' AND contains(" + str + ", " + v + ")) OR (" + typ +
				" = 'ARRAY' AND list_contains(CAST(json_extract(" + doc + ", " + c.arg(jp+"[*]") + ") AS VARCHAR[]), CAST(to_json(CAST(" + v + " AS VARCHAR)) AS VARCHAR)))", nil
		case cdp.OpStartsWith:
			return typ + " = 'VARCHAR' AND starts_with(" + str + ", " + c.arg(l) + ")", nil
		}
		o, ok := sqlOps[op]
		if !ok {
			return "", fmt.Errorf("op %s does not apply to strings", op)
		}
		return typ + " = 'VARCHAR' AND " + str + " " + o + " CAST(" + c.arg(l) + " AS VARCHAR)", nil
	}
	return "", fmt.Errorf("value %v (%T) is not a normalized literal; validate the segment first", lit, lit)
}

// computedColumns maps computed names to their column in segment_profiles.
var computedColumns = map[string]string{
	cdp.ComputedEventsTotal:  "p.events_total",
	cdp.ComputedPageViews:    "p.page_views",
	cdp.ComputedRevenueTotal: "p.revenue_total",
	cdp.ComputedOrdersTotal:  "p.orders_total",
	cdp.ComputedFirstSeen:    "p.first_seen",
	cdp.ComputedLastSeen:     "p.last_seen",
}

// computed compiles a comparison of a computed trait.
func (c *segCompiler) computed(m *cdp.Comparison, path string) (string, error) {
	var col string
	switch {
	case strings.HasPrefix(m.Name, cdp.EventCountsPrefix) && cdp.IsCounter(m.Name):
		col = "CAST(" + c.eventCount(strings.TrimPrefix(m.Name, cdp.EventCountsPrefix), time.Time{}) + " AS DOUBLE)"
	case cdp.IsCounter(m.Name):
		col = "CAST(COALESCE(" + computedColumns[m.Name] + ", 0) AS DOUBLE)"
	case cdp.IsComputedTime(m.Name):
		ts := computedColumns[m.Name]
		switch m.Op {
		case cdp.OpExists:
			return ts + " IS NOT NULL", nil
		case cdp.OpNotExists:
			return ts + " IS NULL", nil
		case cdp.OpWithin, cdp.OpOlderThan:
			return "COALESCE(epoch_us(" + ts + ")" + timeCutoffOp(m.Op) + c.arg(c.cutoff(m.Days).UnixMicro()) + ", false)", nil
		}
		col = "epoch_us(" + ts + ")"
	default:
		return "", fmt.Errorf("%s.name: unknown computed trait %q", path, m.Name)
	}
	lits := []any{m.Value}
	op := m.Op
	if op == cdp.OpIn {
		list, ok := m.Value.([]any)
		if !ok || len(list) == 0 {
			return "", fmt.Errorf("%s.value: in needs a list", path)
		}
		lits, op = list, cdp.OpEq
	}
	o, ok := sqlOps[op]
	if !ok {
		return "", fmt.Errorf("%s.op: %s does not apply to %s", path, m.Op, m.Name)
	}
	ors := make([]string, len(lits))
	for i, lit := range lits {
		var v any
		switch l := lit.(type) {
		case float64:
			v = l
		case time.Time:
			v = l.UnixMicro()
		default:
			return "", fmt.Errorf("%s.value: %v (%T) does not compare with %s", path, lit, lit, m.Name)
		}
		ors[i] = col + " " + o + " " + c.arg(v)
	}
	return "COALESCE(" + strings.Join(ors, " OR ") + ", false)", nil
}
