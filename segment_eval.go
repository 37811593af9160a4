package cdp

import (
	"strings"
	"time"
)

// Evaluate reports whether the profile is a member of the segment at time
// now. s must be valid (ParseSegment and Validate make it so). It is pure:
// it reads the profile through [ProfileView] and nothing else, so it is safe
// to call concurrently.
//
// Profiles answer Computed for events_total, page_views, revenue_total,
// orders_total, event_counts.<event name> (float64; a missing counter counts
// as 0) and first_seen, last_seen (time.Time; missing means unknown).
func (s *Segment) Evaluate(p ProfileView, now time.Time) bool {
	return s.Condition.eval(p, now)
}

func (c *Condition) eval(p ProfileView, now time.Time) bool {
	switch {
	case c.All != nil:
		for i := range c.All {
			if !c.All[i].eval(p, now) {
				return false
			}
		}
		return true
	case c.Any != nil:
		for i := range c.Any {
			if c.Any[i].eval(p, now) {
				return true
			}
		}
		return false
	case c.Not != nil:
		return !c.Not.eval(p, now)
	case c.Trait != nil:
		v, ok := traitValue(p, c.Trait.Name)
		return c.Trait.match(v, ok, now)
	case c.Computed != nil:
		v, ok := p.Computed(c.Computed.Name)
		if IsCounter(c.Computed.Name) && (!ok || v == nil) {
			v, ok = 0.0, true
		}
		return c.Computed.match(v, ok, now)
	case c.Identifier != nil:
		return p.HasIdentifier(c.Identifier.Type)
	case c.Event != nil:
		var since time.Time // zero: all time
		if c.Event.WithinDays > 0 {
			since = WindowStart(now, c.Event.WithinDays)
		}
		return p.EventCountSince(c.Event.Name, since) >= c.Event.Min()
	}
	return false
}

// traitValue walks a dotted trait path.
func traitValue(p ProfileView, name string) (any, bool) {
	first, rest, nested := strings.Cut(name, ".")
	v, ok := p.Trait(first)
	for ok && nested {
		m, isMap := v.(map[string]any)
		if !isMap {
			return nil, false
		}
		first, rest, nested = strings.Cut(rest, ".")
		v, ok = m[first]
	}
	return v, ok
}

func (m *Comparison) match(v any, present bool, now time.Time) bool {
	present = present && v != nil
	switch m.Op {
	case OpExists:
		return present
	case OpNotExists:
		return !present
	}
	if !present {
		return false
	}
	switch m.Op {
	case OpWithin, OpOlderThan:
		t, ok := asTime(v)
		if !ok {
			return false
		}
		cutoff := WindowStart(now, m.Days)
		if m.Op == OpWithin {
			return !t.Before(cutoff)
		}
		return t.Before(cutoff)
	case OpIn:
		list, _ := m.Value.([]any)
		for _, lit := range list {
			if compare(OpEq, v, lit) {
				return true
			}
		}
		return false
	}
	return compare(m.Op, v, m.Value)
}

// compare applies op to a profile value and a normalized literal; a value
// of another type than the literal never matches.
func compare(op Op, v, lit any) bool {
	switch l := lit.(type) {
	case float64:
		f, ok := asNumber(v)
		if !ok {
			return false
		}
		return order(op, cmpFloat(f, l))
	case bool:
		b, ok := v.(bool)
		if !ok {
			return false
		}
		switch op {
		case OpEq:
			return b == l
		case OpNeq:
			return b != l
		}
		return false
	case time.Time:
		t, ok := asTime(v)
		if !ok {
			return false
		}
		return order(op, t.Compare(l))
	case string:
		switch op {
		case OpContains:
			switch x := v.(type) {
			case string:
				return strings.Contains(x, l)
			case []any:
				for _, e := range x {
					if s, ok := e.(string); ok && s == l {
						return true
					}
				}
			}
			return false
		case OpStartsWith:
			s, ok := v.(string)
			return ok && strings.HasPrefix(s, l)
		}
		s, ok := v.(string)
		return ok && order(op, strings.Compare(s, l))
	}
	return false
}

func order(op Op, c int) bool {
	switch op {
	case OpEq:
		return c == 0
	case OpNeq:
		return c != 0
	case OpGt:
		return c > 0
	case OpGte:
		return c >= 0
	case OpLt:
		return c < 0
	case OpLte:
		return c <= 0
	}
	return false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func asNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}

func asTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		if x.IsZero() {
			return time.Time{}, false
		}
		return x.Truncate(time.Microsecond), true
	case string:
		return ParseTime(x)
	}
	return time.Time{}, false
}
