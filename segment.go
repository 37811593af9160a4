package cdp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// A Segment is a named condition over profiles: who is a "high value
// shopper" in a workspace. Users write segments in YAML, in the config under
// `segments:` or in a file for `cdpctl segment add FILE`:
//
//	id: high_value_shoppers
//	workspace: default
//	description: Ordered 3+ times in 30 days or spent over 500
//	condition:
//	  any:
//	    - event: {name: Order Completed, min_count: 3, within_days: 30}
//	    - computed: {name: revenue_total, op: gt, value: 500}
//
// The same definition is evaluated in Go by the speed layer
// ([Segment.Evaluate]) and compiled to DuckDB SQL by package sql for batch
// membership; a test holds both to the same answers.
type Segment struct {
	ID          string    `yaml:"id" json:"id"`
	Name        string    `yaml:"name,omitempty" json:"name,omitempty"`
	Workspace   string    `yaml:"workspace" json:"workspace"`
	Description string    `yaml:"description,omitempty" json:"description,omitempty"`
	Condition   Condition `yaml:"condition" json:"condition"`
}

// Condition is one node of a segment's condition tree. Exactly one field is
// set: a combinator (All, Any, Not) or a leaf (Trait, Computed, Identifier,
// Event).
//
// Leaves are two-valued: a comparison whose value is missing or of another
// type than the literal is false (so `plan neq pro` is false for a profile
// without a plan; write `not: {trait: {name: plan, op: eq, value: pro}}` to
// include it). Not negates its child exactly.
type Condition struct {
	All        []Condition          `yaml:"all,omitempty" json:"all,omitempty"`
	Any        []Condition          `yaml:"any,omitempty" json:"any,omitempty"`
	Not        *Condition           `yaml:"not,omitempty" json:"not,omitempty"`
	Trait      *Comparison          `yaml:"trait,omitempty" json:"trait,omitempty"`
	Computed   *Comparison          `yaml:"computed,omitempty" json:"computed,omitempty"`
	Identifier *IdentifierCondition `yaml:"identifier,omitempty" json:"identifier,omitempty"`
	Event      *EventCondition      `yaml:"event,omitempty" json:"event,omitempty"`
}

// Comparison compares a trait or a computed trait with a literal.
//
// Trait names are dotted paths into nested traits ("address.city"); each
// part is letters, digits, '_' or '-'. Computed names are events_total,
// page_views, revenue_total, orders_total, first_seen, last_seen and
// event_counts.<event name>.
//
// Value is a number, a string, a bool, or a time (a string in RFC 3339 form,
// or a YAML timestamp); for op "in" it is a list of those. The literal's type
// picks the comparison: a number compares with numeric values only, a time
// with RFC 3339 strings (and first_seen/last_seen) only, and so on.
// Ops "within" and "older_than" take Days instead of Value and compare a
// time with the start of the window (see [WindowStart]): within is
// value ≥ start, older_than is value < start.
//
// After [Segment.Validate], Value holds float64, string, bool, time.Time,
// or []any of those.
type Comparison struct {
	Name  string `yaml:"name" json:"name"`
	Op    Op     `yaml:"op" json:"op"`
	Value any    `yaml:"value,omitempty" json:"value,omitempty"`
	Days  int    `yaml:"days,omitempty" json:"days,omitempty"`
}

// IdentifierCondition holds when the profile has an identifier of Type
// (email, phone, user_id, anonymous_id, or any source-declared type).
type IdentifierCondition struct {
	Type string `yaml:"type" json:"type"`
}

// EventCondition holds when the profile has at least MinCount track events
// named Name with a timestamp in the window of WithinDays days (from
// [WindowStart]; all time when WithinDays is 0). MinCount is 1 when left
// out; given, it is 1 or more: a pointer, so that min_count: 0 (meant as
// "never did it", which is not: {event: …}) is refused, not read as 1.
type EventCondition struct {
	Name       string `yaml:"name" json:"name"`
	MinCount   *int   `yaml:"min_count,omitempty" json:"min_count,omitempty"`
	WithinDays int    `yaml:"within_days,omitempty" json:"within_days,omitempty"`
}

// Min is the count the condition asks for: MinCount, 1 when left out.
func (e *EventCondition) Min() int {
	if e.MinCount == nil {
		return 1
	}
	return *e.MinCount
}

// Op is a comparison operator.
type Op string

// Comparison operators.
const (
	OpEq         Op = "eq"
	OpNeq        Op = "neq"
	OpGt         Op = "gt"
	OpGte        Op = "gte"
	OpLt         Op = "lt"
	OpLte        Op = "lte"
	OpContains   Op = "contains"    // substring of a string, or element of an array of strings
	OpStartsWith Op = "starts_with" // prefix of a string
	OpIn         Op = "in"          // equal to one of a list
	OpExists     Op = "exists"      // present and not null
	OpNotExists  Op = "not_exists"  // missing or null
	OpWithin     Op = "within"      // time ≥ WindowStart(now, days)
	OpOlderThan  Op = "older_than"  // time < WindowStart(now, days)
)

// Ops lists every operator.
var Ops = []Op{OpEq, OpNeq, OpGt, OpGte, OpLt, OpLte, OpContains, OpStartsWith, OpIn, OpExists, OpNotExists, OpWithin, OpOlderThan}

// Computed trait names a segment may compare. EventCountsPrefix + an event
// name is the all-time count of track events of that name.
const (
	ComputedEventsTotal  = "events_total"
	ComputedPageViews    = "page_views"
	ComputedRevenueTotal = "revenue_total"
	ComputedOrdersTotal  = "orders_total"
	ComputedFirstSeen    = "first_seen"
	ComputedLastSeen     = "last_seen"
	EventCountsPrefix    = "event_counts."
)

// Limits of a segment definition.
const (
	MaxSegmentDepth = 32   // nesting of conditions
	MaxSegmentNodes = 1000 // conditions in one segment
	MaxSegmentDays  = 3650 // days of within and older_than
	MaxEventDays    = 365  // within_days of event conditions (the speed layer keeps 400 days of counts)
	maxNameLen      = 200  // trait, event and identifier names
)

// Kind is the type of a value a segment compares.
type Kind int

// Kinds of values.
const (
	KindInvalid Kind = iota
	KindNumber
	KindString
	KindBool
	KindTime
)

func (k Kind) String() string {
	switch k {
	case KindNumber:
		return "number"
	case KindString:
		return "string"
	case KindBool:
		return "bool"
	case KindTime:
		return "time"
	}
	return "invalid"
}

// IsCounter reports whether a computed name is a counter (events_total,
// page_views, revenue_total, orders_total, event_counts.*): a number that
// is 0 when the profile has none.
func IsCounter(name string) bool {
	switch name {
	case ComputedEventsTotal, ComputedPageViews, ComputedRevenueTotal, ComputedOrdersTotal:
		return true
	}
	return strings.HasPrefix(name, EventCountsPrefix) && len(name) > len(EventCountsPrefix)
}

// IsComputedTime reports whether a computed name is a time (first_seen, last_seen).
func IsComputedTime(name string) bool {
	return name == ComputedFirstSeen || name == ComputedLastSeen
}

// ParseSegment decodes one segment from YAML or JSON (JSON when the input is
// a valid JSON object, YAML otherwise), rejecting unknown keys, and
// validates it.
func ParseSegment(b []byte) (*Segment, error) {
	var s Segment
	trimmed := bytes.TrimLeft(b, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(b) {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return nil, fmt.Errorf("parse segment JSON: %w", err)
		}
		if dec.More() {
			return nil, errors.New("parse segment JSON: more than one value")
		}
	} else {
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&s); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errors.New("parse segment YAML: empty document")
			}
			return nil, fmt.Errorf("parse segment YAML: %w", explainYAMLError(err))
		}
		var extra any
		if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
			return nil, errors.New("parse segment YAML: more than one document")
		}
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// segmentKeys are the keys each YAML mapping of a segment accepts.
var segmentKeys = map[string]string{
	"Segment":             "id, name, workspace, description, condition",
	"Condition":           "all, any, not, trait, computed, identifier, event",
	"Comparison":          "name, op, value, days",
	"IdentifierCondition": "type",
	"EventCondition":      "name, min_count, within_days",
}

var unknownFieldRe = regexp.MustCompile(`field (.+) not found in type cdp\.(\w+)`)

// explainYAMLError rewrites "field x not found in type cdp.Condition" into
// a message that lists the keys allowed there.
func explainYAMLError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		msgs[i] = unknownFieldRe.ReplaceAllStringFunc(m, func(sub string) string {
			g := unknownFieldRe.FindStringSubmatch(sub)
			if keys, ok := segmentKeys[g[2]]; ok {
				return fmt.Sprintf("unknown key %q (allowed here: %s)", g[1], keys)
			}
			return sub
		})
	}
	return errors.New(strings.Join(msgs, "; "))
}

var (
	segmentIDRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	traitPartRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	idTypeRe    = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	// rfc3339Re is the shape of a time string, for traits and literals alike.
	// The SQL compiler applies the same pattern so both evaluators agree on
	// what is a time.
	rfc3339Re = regexp.MustCompile(RFC3339Pattern)
)

// RFC3339Pattern is the shape a string must have to count as a time.
const RFC3339Pattern = `^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`

// ParseTime reads a string in RFC 3339 form as a time truncated to the
// microsecond (the precision of DuckDB timestamps).
func ParseTime(s string) (time.Time, bool) {
	if !rfc3339Re.MatchString(s) {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t.Truncate(time.Microsecond), true
}

// Validate checks the segment and normalizes literal values (see
// [Comparison]). Its error is a *ValidationError whose Field is the path of
// the bad node, e.g. "condition.any[1].computed.value".
func (s *Segment) Validate() error {
	// A key left out reads as "", which the patterns below would call
	// malformed; say what is missing instead.
	if s.ID == "" {
		return Invalid("invalid_segment_id", "id", "", "is required: the segment's name, such as high_value (lower case letters, digits, _ and -)")
	}
	if s.Workspace == "" {
		return Invalid("invalid_workspace", "workspace", "", "is required: the id of a configured workspace, such as default")
	}
	if !segmentIDRe.MatchString(s.ID) {
		return Invalid("invalid_segment_id", "id", s.ID, "must match "+segmentIDRe.String())
	}
	if !segmentIDRe.MatchString(s.Workspace) {
		return Invalid("invalid_workspace", "workspace", s.Workspace, "must be a workspace id matching "+segmentIDRe.String())
	}
	if len(s.Name) > maxNameLen || !utf8.ValidString(s.Name) {
		return Invalid("invalid_name", "name", s.Name, fmt.Sprintf("must be valid UTF-8 of at most %d bytes", maxNameLen))
	}
	if len(s.Description) > 4096 || !utf8.ValidString(s.Description) {
		return Invalid("invalid_description", "description", s.Description, "must be valid UTF-8 of at most 4096 bytes")
	}
	nodes := 0
	return s.Condition.validate("condition", 1, &nodes)
}

func (c *Condition) validate(path string, depth int, nodes *int) error {
	*nodes++
	if *nodes > MaxSegmentNodes {
		return Invalid("too_large", path, "", fmt.Sprintf("a segment may have at most %d conditions", MaxSegmentNodes))
	}
	if depth > MaxSegmentDepth {
		return Invalid("too_deep", path, "", fmt.Sprintf("conditions may nest at most %d deep", MaxSegmentDepth))
	}
	set := c.kinds()
	switch len(set) {
	case 0:
		return Invalid("empty_condition", path, "", "needs one of all, any, not, trait, computed, identifier, event")
	case 1:
	default:
		return Invalid("ambiguous_condition", path, strings.Join(set, ","), "must have exactly one of all, any, not, trait, computed, identifier, event")
	}
	switch {
	case c.All != nil || c.Any != nil:
		key, list := "all", c.All
		if c.Any != nil {
			key, list = "any", c.Any
		}
		if len(list) == 0 {
			return Invalid("empty_list", path+"."+key, "", "needs at least one condition")
		}
		for i := range list {
			if err := list[i].validate(fmt.Sprintf("%s.%s[%d]", path, key, i), depth+1, nodes); err != nil {
				return err
			}
		}
	case c.Not != nil:
		return c.Not.validate(path+".not", depth+1, nodes)
	case c.Trait != nil:
		return c.Trait.validate(path+".trait", false)
	case c.Computed != nil:
		return c.Computed.validate(path+".computed", true)
	case c.Identifier != nil:
		if !idTypeRe.MatchString(c.Identifier.Type) {
			return Invalid("invalid_identifier_type", path+".identifier.type", c.Identifier.Type,
				"must be an identifier type such as email, phone, user_id (matching "+idTypeRe.String()+")")
		}
	case c.Event != nil:
		e, p := c.Event, path+".event"
		if e.Name == "" || len(e.Name) > maxNameLen || !utf8.ValidString(e.Name) {
			return Invalid("invalid_event_name", p+".name", e.Name, fmt.Sprintf("must be a non-empty UTF-8 event name of at most %d bytes", maxNameLen))
		}
		if n := e.Min(); n < 1 || n > 1_000_000_000 {
			return Invalid("out_of_range", p+".min_count", strconv.Itoa(n), "must be between 1 and 1000000000 (profiles without the event: not: {event: …})")
		}
		if e.WithinDays < 0 || e.WithinDays > MaxEventDays {
			return Invalid("out_of_range", p+".within_days", strconv.Itoa(e.WithinDays), fmt.Sprintf("must be between 1 and %d, or omitted for all time", MaxEventDays))
		}
	}
	return nil
}

// kinds lists the fields set on c.
func (c *Condition) kinds() []string {
	var set []string
	if c.All != nil {
		set = append(set, "all")
	}
	if c.Any != nil {
		set = append(set, "any")
	}
	if c.Not != nil {
		set = append(set, "not")
	}
	if c.Trait != nil {
		set = append(set, "trait")
	}
	if c.Computed != nil {
		set = append(set, "computed")
	}
	if c.Identifier != nil {
		set = append(set, "identifier")
	}
	if c.Event != nil {
		set = append(set, "event")
	}
	return set
}

func (m *Comparison) validate(path string, computed bool) error {
	if computed {
		if !IsCounter(m.Name) && !IsComputedTime(m.Name) {
			return Invalid("unknown_computed", path+".name", m.Name,
				"must be events_total, page_views, revenue_total, orders_total, first_seen, last_seen or event_counts.<event name>")
		}
		if len(m.Name) > len(EventCountsPrefix)+maxNameLen || !utf8.ValidString(m.Name) {
			return Invalid("invalid_name", path+".name", m.Name, fmt.Sprintf("event name must be valid UTF-8 of at most %d bytes", maxNameLen))
		}
	} else if _, err := TraitPath(m.Name); err != nil {
		return Invalid("invalid_trait_name", path+".name", m.Name,
			"must be a trait name or a dotted path (address.city) of letters, digits, '_' and '-'")
	}
	if !m.Op.valid() {
		return Invalid("unknown_op", path+".op", string(m.Op), "must be one of "+opList())
	}
	counter, timeVal := computed && IsCounter(m.Name), computed && IsComputedTime(m.Name)

	switch m.Op {
	case OpExists, OpNotExists:
		if m.Value != nil || m.Days != 0 {
			return Invalid("unexpected_value", path+".value", "", string(m.Op)+" takes no value and no days")
		}
		if counter {
			return Invalid("invalid_op", path+".op", string(m.Op), "counters always exist; compare them with a number")
		}
		return nil
	case OpWithin, OpOlderThan:
		if m.Value != nil {
			return Invalid("unexpected_value", path+".value", "", string(m.Op)+" takes days, not value")
		}
		if m.Days < 1 || m.Days > MaxSegmentDays {
			return Invalid("out_of_range", path+".days", strconv.Itoa(m.Days), fmt.Sprintf("%s needs days between 1 and %d", m.Op, MaxSegmentDays))
		}
		if counter {
			return Invalid("invalid_op", path+".op", string(m.Op), m.Name+" is a number; within and older_than compare times")
		}
		return nil
	}
	if m.Days != 0 {
		return Invalid("unexpected_days", path+".days", strconv.Itoa(m.Days), "days is only for within and older_than")
	}
	if m.Op == OpIn {
		list, ok := m.Value.([]any)
		if !ok || len(list) == 0 {
			return Invalid("invalid_value", path+".value", describe(m.Value), "in needs a non-empty list of values")
		}
		if len(list) > 1000 {
			return Invalid("too_large", path+".value", strconv.Itoa(len(list)), "in takes at most 1000 values")
		}
		out := make([]any, len(list))
		for i, v := range list {
			lit, kind, err := literal(v)
			if err != nil {
				return Invalid("invalid_value", fmt.Sprintf("%s.value[%d]", path, i), describe(v), err.Error())
			}
			if err := checkKind(kind, counter, timeVal); err != nil {
				return Invalid("type_mismatch", fmt.Sprintf("%s.value[%d]", path, i), describe(v), m.Name+" "+err.Error())
			}
			out[i] = lit
		}
		m.Value = out
		return nil
	}
	if m.Value == nil {
		return Invalid("missing_value", path+".value", "", string(m.Op)+" needs a value")
	}
	lit, kind, err := literal(m.Value)
	if err != nil {
		return Invalid("invalid_value", path+".value", describe(m.Value), err.Error())
	}
	if err := checkKind(kind, counter, timeVal); err != nil {
		return Invalid("type_mismatch", path+".value", describe(m.Value), m.Name+" "+err.Error())
	}
	switch m.Op {
	case OpContains, OpStartsWith:
		if kind != KindString {
			return Invalid("type_mismatch", path+".value", describe(m.Value), string(m.Op)+" needs a string")
		}
	case OpGt, OpGte, OpLt, OpLte:
		if kind == KindBool {
			return Invalid("type_mismatch", path+".value", describe(m.Value), string(m.Op)+" does not order booleans; use eq or neq")
		}
	}
	m.Value = lit
	return nil
}

func checkKind(k Kind, counter, timeVal bool) error {
	switch {
	case counter && k != KindNumber:
		return errors.New("is a number; compare it with a number")
	case timeVal && k != KindTime:
		return errors.New("is a time; compare it with an RFC 3339 time, or use within/older_than")
	}
	return nil
}

// literal normalizes a decoded YAML/JSON scalar.
func literal(v any) (any, Kind, error) {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, KindInvalid, errors.New("must be a finite number")
		}
		return x, KindNumber, nil
	case int:
		return float64(x), KindNumber, nil
	case int64:
		return float64(x), KindNumber, nil
	case uint64:
		return float64(x), KindNumber, nil
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return nil, KindInvalid, errors.New("must be a finite number")
		}
		return literal(f)
	case bool:
		return x, KindBool, nil
	case time.Time:
		return x.UTC().Truncate(time.Microsecond), KindTime, nil
	case string:
		if len(x) > 1024 || !utf8.ValidString(x) {
			return nil, KindInvalid, errors.New("must be valid UTF-8 of at most 1024 bytes")
		}
		if t, ok := ParseTime(x); ok {
			return t.UTC(), KindTime, nil
		}
		return x, KindString, nil
	case nil:
		return nil, KindInvalid, errors.New("must not be null; use exists or not_exists")
	}
	return nil, KindInvalid, errors.New("must be a number, string, bool or RFC 3339 time")
}

// LiteralKind is the kind of a normalized literal (a Value after Validate).
func LiteralKind(v any) Kind {
	switch v.(type) {
	case float64:
		return KindNumber
	case string:
		return KindString
	case bool:
		return KindBool
	case time.Time:
		return KindTime
	}
	return KindInvalid
}

func describe(v any) string {
	if v == nil {
		return ""
	}
	if t, ok := v.(time.Time); ok {
		return t.Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

func (o Op) valid() bool {
	for _, x := range Ops {
		if o == x {
			return true
		}
	}
	return false
}

func opList() string {
	s := make([]string, len(Ops))
	for i, o := range Ops {
		s[i] = string(o)
	}
	return strings.Join(s, ", ")
}

// TraitPath splits a trait name into its dotted parts.
func TraitPath(name string) ([]string, error) {
	parts := strings.Split(name, ".")
	if len(parts) > 8 {
		return nil, fmt.Errorf("trait path %q is deeper than 8", name)
	}
	for _, p := range parts {
		if !traitPartRe.MatchString(p) {
			return nil, fmt.Errorf("trait path %q: part %q must match %s", name, p, traitPartRe)
		}
	}
	return parts, nil
}

// TimeSensitive reports whether the segment's answer can change with time
// alone (it has event windows, within or older_than): the speed layer must
// re-evaluate such segments periodically, not only when a profile changes.
func (s *Segment) TimeSensitive() bool {
	for n := range s.Condition.nodes() {
		switch {
		case n.Event != nil && n.Event.WithinDays > 0,
			n.Trait != nil && (n.Trait.Op == OpWithin || n.Trait.Op == OpOlderThan),
			n.Computed != nil && (n.Computed.Op == OpWithin || n.Computed.Op == OpOlderThan):
			return true
		}
	}
	return false
}

// IdentifierTypes lists the identifier types the segment's conditions ask
// for, each once, in the order they first appear.
func (s *Segment) IdentifierTypes() []string {
	var types []string
	for n := range s.Condition.nodes() {
		if n.Identifier != nil && !slices.Contains(types, n.Identifier.Type) {
			types = append(types, n.Identifier.Type)
		}
	}
	return types
}

// nodes yields c and every condition under it, depth first.
func (c *Condition) nodes() iter.Seq[*Condition] {
	return func(yield func(*Condition) bool) { c.walk(yield) }
}

func (c *Condition) walk(yield func(*Condition) bool) bool {
	if !yield(c) {
		return false
	}
	for i := range c.All {
		if !c.All[i].walk(yield) {
			return false
		}
	}
	for i := range c.Any {
		if !c.Any[i].walk(yield) {
			return false
		}
	}
	return c.Not == nil || c.Not.walk(yield)
}

// WindowStart is where a window of days ending at now begins: UTC midnight
// days days before now's UTC day. "Within 30 days" so covers at least 30×24
// hours and at most 31×24, and windows move only at UTC midnight, which is
// also the granularity at which the speed layer keeps event counts.
func WindowStart(now time.Time, days int) time.Time {
	y, m, d := now.UTC().Date()
	return time.Date(y, m, d-days, 0, 0, 0, 0, time.UTC)
}

// NextChange is the next time after now at which the segment's answer for
// an unchanged profile may change: the next UTC midnight for a time-sensitive
// segment (see [Segment.TimeSensitive]); ok is false for other segments.
func (s *Segment) NextChange(now time.Time) (next time.Time, ok bool) {
	if !s.TimeSensitive() {
		return time.Time{}, false
	}
	return WindowStart(now, -1), true
}
