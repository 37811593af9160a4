package cdp_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	cdp "github.com/tributary-cdp/tributary"
)

func TestParseSegmentErrors(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		code      string // ValidationError code; "" means a decode error
		field     string
		wantInMsg string
	}{
		{"bad id", `{id: "Bad Id", workspace: default, condition: {identifier: {type: email}}}`, "invalid_segment_id", "id", "Bad Id"},
		{"missing workspace", `{id: a, condition: {identifier: {type: email}}}`, "invalid_workspace", "workspace", "is required"},
		{"missing id", `{workspace: default, condition: {identifier: {type: email}}}`, "invalid_segment_id", "id", "is required"},
		{"empty condition", `{id: a, workspace: default}`, "empty_condition", "condition", ""},
		{"two kinds", `{id: a, workspace: default, condition: {identifier: {type: email}, not: {identifier: {type: phone}}}}`, "ambiguous_condition", "condition", "not,identifier"},
		{"empty any", `{id: a, workspace: default, condition: {any: []}}`, "empty_list", "condition.any", ""},
		{"unknown op", `{id: a, workspace: default, condition: {any: [{identifier: {type: email}}, {trait: {name: plan, op: like, value: x}}]}}`, "unknown_op", "condition.any[1].trait.op", "like"},
		{"unknown computed", `{id: a, workspace: default, condition: {all: [{not: {computed: {name: lifetime_value, op: gt, value: 1}}}]}}`, "unknown_computed", "condition.all[0].not.computed.name", "lifetime_value"},
		{"empty event_counts", `{id: a, workspace: default, condition: {computed: {name: "event_counts.", op: gt, value: 1}}}`, "unknown_computed", "condition.computed.name", ""},
		{"counter vs string", `{id: a, workspace: default, condition: {computed: {name: revenue_total, op: gt, value: "500"}}}`, "type_mismatch", "condition.computed.value", "500"},
		{"time vs number", `{id: a, workspace: default, condition: {computed: {name: last_seen, op: gt, value: 5}}}`, "type_mismatch", "condition.computed.value", "is a time"},
		{"counter exists", `{id: a, workspace: default, condition: {computed: {name: orders_total, op: exists}}}`, "invalid_op", "condition.computed.op", ""},
		{"counter within", `{id: a, workspace: default, condition: {computed: {name: orders_total, op: within, days: 3}}}`, "invalid_op", "condition.computed.op", ""},
		{"within without days", `{id: a, workspace: default, condition: {computed: {name: last_seen, op: within}}}`, "out_of_range", "condition.computed.days", ""},
		{"within with value", `{id: a, workspace: default, condition: {computed: {name: last_seen, op: within, value: 30}}}`, "unexpected_value", "condition.computed.value", ""},
		{"days on eq", `{id: a, workspace: default, condition: {trait: {name: plan, op: eq, value: x, days: 3}}}`, "unexpected_days", "condition.trait.days", "3"},
		{"missing value", `{id: a, workspace: default, condition: {trait: {name: plan, op: eq}}}`, "missing_value", "condition.trait.value", ""},
		{"null value", `{id: a, workspace: default, condition: {trait: {name: plan, op: eq, value: null}}}`, "missing_value", "condition.trait.value", ""},
		{"value on exists", `{id: a, workspace: default, condition: {trait: {name: plan, op: exists, value: 1}}}`, "unexpected_value", "condition.trait.value", ""},
		{"nan", `{id: a, workspace: default, condition: {trait: {name: score, op: gt, value: .nan}}}`, "invalid_value", "condition.trait.value", "finite"},
		{"map value", `{id: a, workspace: default, condition: {trait: {name: score, op: eq, value: {a: 1}}}}`, "invalid_value", "condition.trait.value", ""},
		{"in scalar", `{id: a, workspace: default, condition: {trait: {name: plan, op: in, value: pro}}}`, "invalid_value", "condition.trait.value", "list"},
		{"in nested list", `{id: a, workspace: default, condition: {trait: {name: plan, op: in, value: [pro, [x]]}}}`, "invalid_value", "condition.trait.value[1]", ""},
		{"in counter strings", `{id: a, workspace: default, condition: {computed: {name: orders_total, op: in, value: [1, two]}}}`, "type_mismatch", "condition.computed.value[1]", "two"},
		{"contains number", `{id: a, workspace: default, condition: {trait: {name: tags, op: contains, value: 3}}}`, "type_mismatch", "condition.trait.value", ""},
		{"gt bool", `{id: a, workspace: default, condition: {trait: {name: vip, op: gt, value: true}}}`, "type_mismatch", "condition.trait.value", ""},
		{"bad trait name", `{id: a, workspace: default, condition: {trait: {name: "a..b", op: exists}}}`, "invalid_trait_name", "condition.trait.name", "a..b"},
		{"trait name quote", `{id: a, workspace: default, condition: {trait: {name: "a\"b", op: exists}}}`, "invalid_trait_name", "condition.trait.name", ""},
		{"bad identifier", `{id: a, workspace: default, condition: {identifier: {type: Email}}}`, "invalid_identifier_type", "condition.identifier.type", "Email"},
		{"event no name", `{id: a, workspace: default, condition: {event: {min_count: 2}}}`, "invalid_event_name", "condition.event.name", ""},
		{"event negative count", `{id: a, workspace: default, condition: {event: {name: x, min_count: -1}}}`, "out_of_range", "condition.event.min_count", "-1"},
		{"event count 0", `{id: a, workspace: default, condition: {event: {name: x, min_count: 0}}}`, "out_of_range", "condition.event.min_count", "not: {event"},
		{"event count 0, JSON", `{"id": "a", "workspace": "default", "condition": {"event": {"name": "x", "min_count": 0}}}`, "out_of_range", "condition.event.min_count", "0"},
		{"event window too long", `{id: a, workspace: default, condition: {event: {name: x, within_days: 99999}}}`, "out_of_range", "condition.event.within_days", "99999"},
		{"unknown key", `{id: a, workspace: default, condition: {trait: {name: plan, op: eq, value: x, vaule: y}}}`, "", "", "vaule"},
		{"unknown key json", `{"id": "a", "workspace": "default", "condition": {"tratt": {}}}`, "", "", "tratt"},
		{"not yaml", "id: [", "", "", "parse segment YAML"},
		{"empty", "", "", "", "empty"},
		{"two docs", "id: a\n---\nid: b\n", "", "", "more than one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cdp.ParseSegment([]byte(tt.in))
			if err == nil {
				t.Fatal("no error")
			}
			var ve *cdp.ValidationError
			if tt.code == "" {
				if errors.As(err, &ve) {
					t.Fatalf("got validation error %v, want a decode error", err)
				}
			} else {
				if !errors.As(err, &ve) {
					t.Fatalf("got %T %v, want *cdp.ValidationError", err, err)
				}
				if ve.Code != tt.code || ve.Field != tt.field {
					t.Fatalf("got code %q field %q (%v), want %q %q", ve.Code, ve.Field, err, tt.code, tt.field)
				}
			}
			if !strings.Contains(err.Error(), tt.wantInMsg) {
				t.Fatalf("error %q does not mention %q", err, tt.wantInMsg)
			}
		})
	}
}

func TestParseSegmentLimits(t *testing.T) {
	deep := strings.Repeat("{not: ", cdp.MaxSegmentDepth) + "{identifier: {type: email}}" + strings.Repeat("}", cdp.MaxSegmentDepth)
	_, err := cdp.ParseSegment([]byte(`{id: a, workspace: default, condition: ` + deep + `}`))
	var ve *cdp.ValidationError
	if !errors.As(err, &ve) || ve.Code != "too_deep" {
		t.Fatalf("got %v, want too_deep", err)
	}
	wide := strings.Repeat("{identifier: {type: email}},", cdp.MaxSegmentNodes)
	_, err = cdp.ParseSegment([]byte(`{id: a, workspace: default, condition: {any: [` + wide + `]}}`))
	if !errors.As(err, &ve) || ve.Code != "too_large" {
		t.Fatalf("got %v, want too_large", err)
	}
}

func TestParseSegmentNormalizes(t *testing.T) {
	s, err := cdp.ParseSegment([]byte(`
id: n
workspace: default
condition:
  all:
    - trait: {name: age, op: gt, value: 30}
    - trait: {name: signup_at, op: gt, value: 2026-01-01T01:00:00+01:00}
    - trait: {name: since, op: lt, value: "2026-01-01T00:00:00.1234567Z"}
    - trait: {name: plan, op: in, value: [pro, 3, true]}
    - event: {name: Order Completed}
`))
	if err != nil {
		t.Fatal(err)
	}
	all := s.Condition.All
	if v, ok := all[0].Trait.Value.(float64); !ok || v != 30 {
		t.Errorf("number: got %#v", all[0].Trait.Value)
	}
	if v, ok := all[1].Trait.Value.(time.Time); !ok || !v.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("YAML time: got %#v", all[1].Trait.Value)
	}
	if v, ok := all[2].Trait.Value.(time.Time); !ok || v.Nanosecond() != 123456000 {
		t.Errorf("RFC 3339 string: got %#v, want a time truncated to µs", all[2].Trait.Value)
	}
	if want := []any{"pro", 3.0, true}; !reflect.DeepEqual(all[3].Trait.Value, want) {
		t.Errorf("in: got %#v, want %#v", all[3].Trait.Value, want)
	}
	if all[4].Event.Min() != 1 {
		t.Errorf("min_count default: got %d", all[4].Event.Min())
	}
}

// TestSegmentFilesRoundTrip parses every file in testdata/segments, and
// checks that its YAML and JSON encodings parse back to the same segment.
func TestSegmentFilesRoundTrip(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "segments", "*"))
	if len(paths) == 0 {
		t.Fatal("no testdata/segments")
	}
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s, err := cdp.ParseSegment(b)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		assertRoundTrip(t, s)
	}
}

func assertRoundTrip(t *testing.T, s *cdp.Segment) {
	t.Helper()
	y, err := yaml.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{y, j} {
		s2, err := cdp.ParseSegment(b)
		if err != nil {
			t.Fatalf("re-parse %s: %v", b, err)
		}
		if !reflect.DeepEqual(s, s2) {
			t.Fatalf("round trip changed the segment:\n%#v\n%#v\nvia %s", s, s2, b)
		}
	}
}

// fakeProfile is a ProfileView over maps.
type fakeProfile struct {
	traits   map[string]any
	computed map[string]any
	ids      map[string]bool
	events   map[string][]time.Time
}

func (p fakeProfile) Trait(name string) (any, bool)    { v, ok := p.traits[name]; return v, ok }
func (p fakeProfile) Computed(name string) (any, bool) { v, ok := p.computed[name]; return v, ok }
func (p fakeProfile) HasIdentifier(typ string) bool    { return p.ids[typ] }
func (p fakeProfile) EventCountSince(name string, since time.Time) int {
	n := 0
	for _, ts := range p.events[name] {
		if !ts.Before(since) {
			n++
		}
	}
	return n
}

func TestSegmentEvaluate(t *testing.T) {
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	p := fakeProfile{
		traits: map[string]any{
			"plan": "pro", "age": 41.0, "vip": true, "nothing": nil,
			"tags":      []any{"beta", 3.0, "vip"},
			"address":   map[string]any{"city": "Paris"},
			"signup_at": "2026-11-01T10:00:00+02:00",
			"almost":    "2026-11-01 10:00:00",
		},
		computed: map[string]any{"revenue_total": 620.5, "last_seen": now.Add(-48 * time.Hour), "event_counts.Order Completed": 4.0},
		ids:      map[string]bool{"email": true},
		events:   map[string][]time.Time{"Order Completed": {now.Add(-days(40)), now.Add(-days(10)), now.Add(-days(2)), now}},
	}
	tests := []struct {
		cond string
		want bool
	}{
		{`trait: {name: plan, op: eq, value: pro}`, true},
		{`trait: {name: plan, op: neq, value: pro}`, false},
		{`trait: {name: missing, op: neq, value: pro}`, false},
		{`not: {trait: {name: missing, op: eq, value: pro}}`, true},
		{`trait: {name: age, op: eq, value: "41"}`, false}, // type mismatch
		{`trait: {name: age, op: gte, value: 41}`, true},
		{`trait: {name: age, op: lt, value: 41}`, false},
		{`trait: {name: vip, op: eq, value: true}`, true},
		{`trait: {name: vip, op: neq, value: true}`, false},
		{`trait: {name: nothing, op: exists}`, false},
		{`trait: {name: nothing, op: not_exists}`, true},
		{`trait: {name: tags, op: contains, value: vip}`, true},
		{`trait: {name: tags, op: contains, value: "3"}`, false},
		{`trait: {name: plan, op: contains, value: r}`, true},
		{`trait: {name: plan, op: starts_with, value: pr}`, true},
		{`trait: {name: plan, op: in, value: [free, pro]}`, true},
		{`trait: {name: address.city, op: eq, value: Paris}`, true},
		{`trait: {name: address.zip, op: exists}`, false},
		{`trait: {name: plan.x, op: exists}`, false},
		{`trait: {name: signup_at, op: eq, value: "2026-11-01T08:00:00Z"}`, true},
		{`trait: {name: signup_at, op: within, days: 30}`, true},
		{`trait: {name: signup_at, op: older_than, days: 20}`, true},
		{`trait: {name: almost, op: within, days: 30}`, false},
		{`computed: {name: revenue_total, op: gt, value: 500}`, true},
		{`computed: {name: orders_total, op: eq, value: 0}`, true}, // missing counter is 0
		{`computed: {name: event_counts.Order Completed, op: gte, value: 4}`, true},
		{`computed: {name: last_seen, op: within, days: 3}`, true},
		{`computed: {name: last_seen, op: within, days: 1}`, false},
		{`computed: {name: first_seen, op: exists}`, false},
		{`computed: {name: first_seen, op: older_than, days: 1}`, false},
		{`identifier: {type: email}`, true},
		{`identifier: {type: phone}`, false},
		{`event: {name: Order Completed, min_count: 3, within_days: 30}`, true},
		{`event: {name: Order Completed, min_count: 3, within_days: 5}`, false},
		{`event: {name: Order Completed, min_count: 4}`, true},
		{`event: {name: Signed Up}`, false},
		{`all: [{identifier: {type: email}}, {event: {name: Signed Up}}]`, false},
		{`any: [{identifier: {type: phone}}, {event: {name: Order Completed}}]`, true},
	}
	for _, tt := range tests {
		t.Run(tt.cond, func(t *testing.T) {
			s, err := cdp.ParseSegment([]byte("id: t\nworkspace: default\ncondition: {" + tt.cond + "}\n"))
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Evaluate(p, now); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

func TestSegmentTimeSensitive(t *testing.T) {
	for cond, want := range map[string]bool{
		`identifier: {type: email}`:               false,
		`event: {name: x, min_count: 2}`:          false,
		`not: {event: {name: x, within_days: 7}}`: true,
		`any: [{identifier: {type: email}}, {all: [{computed: {name: last_seen, op: older_than, days: 9}}]}]`: true,
		`trait: {name: signup_at, op: within, days: 7}`:                                                       true,
		`trait: {name: signup_at, op: gt, value: 2026-01-01T00:00:00Z}`:                                       false,
	} {
		s, err := cdp.ParseSegment([]byte("id: t\nworkspace: default\ncondition: {" + cond + "}\n"))
		if err != nil {
			t.Fatal(err)
		}
		if got := s.TimeSensitive(); got != want {
			t.Errorf("%s: TimeSensitive() = %v, want %v", cond, got, want)
		}
	}
}

func TestWindowStart(t *testing.T) {
	now := time.Date(2026, 3, 1, 15, 4, 5, 0, time.FixedZone("", -8*3600)) // 23:04:05 UTC
	if got, want := cdp.WindowStart(now, 1), time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("WindowStart(1) = %v, want %v", got, want)
	}
	if got, want := cdp.WindowStart(now, 30), time.Date(2026, 1, 30, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("WindowStart(30) = %v, want %v", got, want)
	}
	s, err := cdp.ParseSegment([]byte("id: t\nworkspace: default\ncondition: {event: {name: x, within_days: 7}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	next, ok := s.NextChange(now)
	if want := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC); !ok || !next.Equal(want) {
		t.Errorf("NextChange = %v %v, want %v", next, ok, want)
	}
	// An event just after the window's start counts, one just before does not.
	in := fakeProfile{events: map[string][]time.Time{"x": {time.Date(2026, 2, 22, 0, 0, 0, 1000, time.UTC)}}}
	out := fakeProfile{events: map[string][]time.Time{"x": {time.Date(2026, 2, 21, 23, 59, 59, 0, time.UTC)}}}
	if !s.Evaluate(in, now) || s.Evaluate(out, now) {
		t.Error("window boundary: want the event of 22 Feb in and the one of 21 Feb out")
	}
}

func TestDiffMembership(t *testing.T) {
	at := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	got := cdp.DiffMembership("default", "c1", []string{"a", "b", "c"}, []string{"c", "d", "a"}, "p3@1042", at)
	if len(got) != 2 {
		t.Fatalf("got %d changes, want 2: %+v", len(got), got)
	}
	if got[0].SegmentID != "b" || got[0].Change != cdp.SegmentExit || got[1].SegmentID != "d" || got[1].Change != cdp.SegmentEnter {
		t.Fatalf("got %+v", got)
	}
	if got[1].Key != cdp.SegmentChangeKey("default", "d", "c1", cdp.SegmentEnter, "p3@1042") || len(got[1].Key) != 64 {
		t.Fatalf("key %q", got[1].Key)
	}
	again := cdp.DiffMembership("default", "c1", []string{"a", "b", "c"}, []string{"c", "d", "a"}, "p3@1042", at)
	if !reflect.DeepEqual(got, again) {
		t.Fatal("same input, different changes: keys must be deterministic")
	}
	other := cdp.DiffMembership("default", "c1", nil, []string{"d"}, "p3@1043", at)
	if other[0].Key == got[1].Key {
		t.Fatal("another version must give another key")
	}
	if got[0].MessageKey() != "default/c1" {
		t.Fatalf("message key %q", got[0].MessageKey())
	}
	if n := cdp.DiffMembership("default", "c1", []string{"a"}, []string{"a"}, "v", at); len(n) != 0 {
		t.Fatalf("no change expected, got %+v", n)
	}
}

func TestMemberOf(t *testing.T) {
	var segs []*cdp.Segment
	for _, src := range []string{
		"id: b\nworkspace: default\ncondition: {identifier: {type: email}}",
		"id: a\nworkspace: default\ncondition: {not: {identifier: {type: phone}}}",
		"id: c\nworkspace: default\ncondition: {identifier: {type: phone}}",
		"id: a\nworkspace: other\ncondition: {identifier: {type: email}}",
	} {
		s, err := cdp.ParseSegment([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		segs = append(segs, s)
	}
	got := cdp.MemberOf(segs, "default", fakeProfile{ids: map[string]bool{"email": true}}, time.Now())
	if !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("got %v", got)
	}
}

// BenchmarkSegmentEvaluate evaluates every segment of testdata/segments
// against one profile: the work the speed layer does per profile change.
func BenchmarkSegmentEvaluate(b *testing.B) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "segments", "*"))
	var segs []*cdp.Segment
	for _, path := range paths {
		src, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		s, err := cdp.ParseSegment(src)
		if err != nil {
			b.Fatal(err)
		}
		segs = append(segs, s)
	}
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	p := fakeProfile{
		traits: map[string]any{
			"plan": "pro", "age": 41.0, "vip": true, "tags": []any{"beta", "vip"},
			"address": map[string]any{"city": "Paris"}, "signup_at": "2026-11-01T10:00:00+02:00",
		},
		computed: map[string]any{"revenue_total": 620.5, "orders_total": 4.0, "events_total": 30.0,
			"last_seen": now.Add(-48 * time.Hour), "first_seen": now.Add(-days(90))},
		ids:    map[string]bool{"email": true},
		events: map[string][]time.Time{"Order Completed": {now.Add(-days(40)), now.Add(-days(10)), now.Add(-days(2))}},
	}
	b.ReportAllocs()
	for b.Loop() {
		cdp.MemberOf(segs, "default", p, now)
	}
	b.ReportMetric(float64(len(segs)), "segments")
}
