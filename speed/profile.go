package speed

import (
	"encoding/binary"
	"encoding/json"
	"hash/maphash"
	"iter"
	"slices"
	"strconv"
	"strings"
	"time"
	"unique"
	"unsafe"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/internal/jsonx"
)

// Trait is one top-level trait, last-writer-wins by (TS, Seq). A store
// holds millions of them, so a trait takes 32 bytes, not the 48 of two
// strings and two ints: the name is an interned handle (unique), and the
// value a pointer to its length (uvarint) followed by its bytes. The
// values of one event or one loaded profile share one allocation
// (packTraits).
type Trait struct {
	name  unique.Handle[string]
	value *byte
	TS    int64 // event timestamp, Unix ns
	Seq   int64 // Kafka position (offset<<10 | partition), breaks ties
}

// NewTrait returns a trait; name and value (raw JSON) are copied.
func NewTrait(name, value string, ts, seq int64) Trait {
	return packTraits([]traitSpec{{name, value, ts, seq}})[0]
}

// Name is the trait's name.
func (t Trait) Name() string { return t.name.Value() }

// Value is the trait's raw JSON value.
func (t Trait) Value() string {
	if t.value == nil {
		return ""
	}
	var n uint64
	p := unsafe.Pointer(t.value)
	for shift := 0; ; shift += 7 {
		c := *(*byte)(p)
		p = unsafe.Add(p, 1)
		n |= uint64(c&0x7f) << shift
		if c < 0x80 {
			break
		}
	}
	return unsafe.String((*byte)(p), int(n))
}

// MarshalJSON renders the trait with its name and value (its fields are
// not exported).
func (t Trait) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name, Value string
		TS, Seq     int64
	}{t.Name(), t.Value(), t.TS, t.Seq})
}

// traitSpec is a trait before packTraits.
type traitSpec struct {
	name, value string
	ts, seq     int64
}

// packTraits returns the traits of specs in their order, every value
// copied into one shared allocation.
func packTraits(specs []traitSpec) []Trait {
	if len(specs) == 0 {
		return nil
	}
	size := 0
	for _, sp := range specs {
		size += uvarintLen(len(sp.value)) + len(sp.value)
	}
	buf := make([]byte, 0, size) // sized up front: pointers into it stay valid
	ts := make([]Trait, len(specs))
	for i, sp := range specs {
		at := len(buf)
		buf = binary.AppendUvarint(buf, uint64(len(sp.value)))
		buf = append(buf, sp.value...)
		ts[i] = Trait{name: traitNames.handle(sp.name), value: &buf[at], TS: sp.ts, Seq: sp.seq}
	}
	return ts
}

// traitNames caches the handles of trait names, which every profile
// repeats: a checkpoint of a million profiles of 10 traits made 10M calls
// of unique.Make.
var traitNames = names{seed: maphash.MakeSeed()}

func uvarintLen(n int) int {
	l := 1
	for ; n >= 0x80; n >>= 7 {
		l++
	}
	return l
}

func cmpTraitName(t Trait, name string) int { return strings.Compare(t.Name(), name) }

// newer reports whether (ts, seq) wins over (ts2, seq2).
func newer(ts, seq, ts2, seq2 int64) bool {
	return ts > ts2 || ts == ts2 && seq > seq2
}

// DayCount is the number of events of one UTC day (days since 1970-01-01).
type DayCount struct {
	Day int32
	N   int32
}

// EventCount counts the track events of one name: in total and per day for
// the last MaxDays days.
type EventCount struct {
	Name  string
	Total int64
	Days  []DayCount // sorted by Day
}

// MaxDays bounds the per-day counts each event name keeps.
const MaxDays = 400

// LWWString is a string value that is last-writer-wins by (TS, Seq).
type LWWString struct {
	Value string
	TS    int64
	Seq   int64
}

func (l *LWWString) set(v string, ts, seq int64) {
	if l.TS == 0 && l.Seq == 0 && l.Value == "" || newer(ts, seq, l.TS, l.Seq) {
		*l = LWWString{v, ts, seq}
	}
}

// RecentEvent is one entry of a profile's bounded recent-events list.
type RecentEvent struct {
	Type       cdp.EventType
	Name       string // track event name, page or screen name
	GroupID    string // a group call's
	PreviousID string // an alias call's
	MessageID  string
	TS         int64
	Seq        int64
	// Properties is the raw JSON of a track, page or screen call's
	// properties, or of a group call's traits; "" when absent or larger
	// than maxRecentProps, which Truncated tells apart, and for an identify
	// call, whose traits are the profile's.
	Properties string
	Truncated  bool // Properties was left out for its size
}

// subject is the one of Name, GroupID and PreviousID that e's type has:
// a record holds it in one place.
func (e *RecentEvent) subject() string {
	switch e.Type {
	case cdp.Group:
		return e.GroupID
	case cdp.Alias:
		return e.PreviousID
	}
	return e.Name
}

func (e *RecentEvent) setSubject(s string) {
	switch e.Type {
	case cdp.Group:
		e.GroupID = s
	case cdp.Alias:
		e.PreviousID = s
	default:
		e.Name = s
	}
}

// HasTraits reports whether Properties holds the call's traits.
func (e *RecentEvent) HasTraits() bool { return e.Type == cdp.Group }

const (
	maxRecentProps = 1024
	maxGroups      = 100
)

// Profile is the speed layer's state of one person. Every part of it is
// mergeable (DESIGN.md §1): counters add, FirstSeen is a min, LastSeen a
// max, traits and LastPage are last-writer-wins by (event time, Kafka
// position), the bounded lists keep the newest entries by time, and the
// orders remembered by order_id combine (orders.go). So
// the order in which events arrive, and the order in which clusters merge,
// do not change the result.
//
// A Profile is only modified by the store's apply goroutine; readers see
// it under the lock of its stripe.
type Profile struct {
	CDPID       string
	Workspace   string
	Identifiers []cdp.Identifier // sorted by type, value
	Traits      []Trait          // sorted by name

	EventsTotal   int64
	PageViews     int64
	ScreenViews   int64
	OrdersTotal   int64
	RevenueMicros int64        // revenue in millionths, so sums are exact and order-free
	FirstSeen     int64        // Unix ns, min event timestamp
	LastSeen      int64        // Unix ns, max event timestamp
	Events        []EventCount // sorted by name
	recent        recentList   // RecentEvents
	// UpdatedAt is the wall clock, Unix ns, of the last change. The apply
	// loop reads the clock once per batch of events it takes from Kafka,
	// so it may be early by the time applying a batch takes (a few ms).
	UpdatedAt int64
	// Extra holds what many profiles never use; nil until needed.
	Extra *ProfileExtra
	// saved is the Store.Snapshot that last wrote the profile (its
	// epoch), read and written under the profile's stripe lock.
	saved uint32
	// changed is the Store.gen of its last change: a delta checkpoint
	// holds the profiles changed since the checkpoint before (delta.go).
	changed uint32
}

// ProfileExtra is the rarely used part of a profile (kept apart: a
// million profiles each save its size when they do not use it).
type ProfileExtra struct {
	// Aliases are the cdp ids of clusters merged into this one; look-ups by
	// them still find the profile.
	Aliases  []string
	LastPage LWWString
	// more is what fewer profiles still use: nil until needed (an extra
	// of aliases and a last page takes 64 bytes).
	more *extraMore
}

// extraMore is the part of ProfileExtra that few profiles use.
type extraMore struct {
	groups []string // sorted, at most maxGroups
	orders []order  // sorted by id (orders.go)
}

func (p *Profile) extra() *ProfileExtra {
	if p.Extra == nil {
		p.Extra = &ProfileExtra{}
	}
	return p.Extra
}

func (p *Profile) more() *extraMore {
	x := p.extra()
	if x.more == nil {
		x.more = &extraMore{}
	}
	return x.more
}

// Aliases are the cdp ids of clusters merged into this one.
func (p *Profile) Aliases() []string {
	if p.Extra == nil {
		return nil
	}
	return p.Extra.Aliases
}

// Groups are the group ids of the profile's group calls, sorted.
func (p *Profile) Groups() []string {
	if p.Extra == nil || p.Extra.more == nil {
		return nil
	}
	return p.Extra.more.groups
}

// LastPage is the url (or name) of the latest page or screen by event time.
func (p *Profile) LastPage() string {
	if p.Extra == nil {
		return ""
	}
	return p.Extra.LastPage.Value
}

var _ cdp.ProfileView = (*Profile)(nil)

// Trait returns a trait decoded from JSON.
func (p *Profile) Trait(name string) (any, bool) {
	i, ok := slices.BinarySearchFunc(p.Traits, name, cmpTraitName)
	if !ok {
		return nil, false
	}
	raw := p.Traits[i].Value()
	if v, ok := scalar(raw); ok {
		return v, true
	}
	var v any
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return nil, false
	}
	return v, true
}

// scalar decodes a JSON string without escapes, a number, a boolean or
// null as encoding/json would into an any, without its allocations:
// segment conditions read traits at every change of a profile, and most
// traits are such scalars. ok=false for anything else.
func scalar(raw string) (any, bool) {
	switch raw {
	case "true":
		return true, true
	case "false":
		return false, true
	case "null":
		return nil, true
	}
	if s, end, ok := cdp.PlainString(unsafe.Slice(unsafe.StringData(raw), len(raw)), 0); ok && end == len(raw) {
		return s, true
	}
	if raw != "" && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		if end, ok := jsonx.End(unsafe.Slice(unsafe.StringData(raw), len(raw)), 0); ok && end == len(raw) {
			if f, err := strconv.ParseFloat(raw, 64); err == nil {
				return f, true
			}
		}
	}
	return nil, false
}

// Computed returns a computed trait: events_total, page_views,
// screen_views, orders_total, revenue_total (float64), first_seen,
// last_seen (time.Time), last_page (string), or "event_counts.<name>".
func (p *Profile) Computed(name string) (any, bool) {
	switch name {
	case "events_total":
		return float64(p.EventsTotal), true
	case "page_views":
		return float64(p.PageViews), true
	case "screen_views":
		return float64(p.ScreenViews), true
	case "orders_total":
		return float64(p.OrdersTotal), true
	case "revenue_total":
		return p.Revenue(), true
	case "first_seen":
		return time.Unix(0, p.FirstSeen).UTC(), p.FirstSeen != 0
	case "last_seen":
		return time.Unix(0, p.LastSeen).UTC(), p.LastSeen != 0
	case "last_page":
		return p.LastPage(), p.LastPage() != ""
	}
	if ev, ok := strings.CutPrefix(name, "event_counts."); ok {
		if c := p.eventCount(ev); c != nil {
			return float64(c.Total), true
		}
		return float64(0), true
	}
	return nil, false
}

// HasIdentifier reports whether the profile has an identifier of the type.
func (p *Profile) HasIdentifier(typ string) bool {
	for _, id := range p.Identifiers {
		if id.Type == typ {
			return true
		}
	}
	return false
}

// EventCountSince counts track events named name on or after the UTC day
// of since: counts are kept per day, so a since inside a day counts that
// whole day. Days older than MaxDays before the newest one are forgotten.
func (p *Profile) EventCountSince(name string, since time.Time) int {
	c := p.eventCount(name)
	if c == nil {
		return 0
	}
	d := dayOf(since.UnixNano())
	n := 0
	for i := len(c.Days) - 1; i >= 0 && c.Days[i].Day >= d; i-- {
		n += int(c.Days[i].N)
	}
	return n
}

// Revenue is revenue_total as a float.
func (p *Profile) Revenue() float64 { return float64(p.RevenueMicros) / 1e6 }

func (p *Profile) eventCount(name string) *EventCount {
	i, ok := p.eventIndex(name)
	if !ok {
		return nil
	}
	return &p.Events[i]
}

func dayOf(ns int64) int32 {
	const day = int64(24 * time.Hour)
	if ns < 0 {
		return int32((ns - day + 1) / day)
	}
	return int32(ns / day)
}

// setTrait applies one trait last-writer-wins.
func (p *Profile) setTrait(t Trait) {
	i, ok := p.traitIndex(t)
	if !ok {
		p.Traits = slices.Insert(p.Traits, i, t)
		return
	}
	if cur := &p.Traits[i]; newer(t.TS, t.Seq, cur.TS, cur.Seq) {
		*cur = t
	}
}

// mergeTraits applies sorted traits last-writer-wins; new names are merged
// into an exactly sized slice (profiles are many: no growth slack).
func (p *Profile) mergeTraits(ts []Trait) {
	added := 0
	for _, t := range ts {
		i, ok := p.traitIndex(t)
		if !ok {
			added++
			continue
		}
		if cur := &p.Traits[i]; newer(t.TS, t.Seq, cur.TS, cur.Seq) {
			*cur = t
		}
	}
	if added == 0 {
		return
	}
	out := make([]Trait, 0, len(p.Traits)+added)
	i, j := 0, 0
	for i < len(p.Traits) || j < len(ts) {
		switch {
		case j == len(ts) || i < len(p.Traits) && p.Traits[i].Name() < ts[j].Name():
			out = append(out, p.Traits[i])
			i++
		case i == len(p.Traits) || ts[j].Name() < p.Traits[i].Name():
			out = append(out, ts[j])
			j++
		default: // same name: already resolved above
			out = append(out, p.Traits[i])
			i++
			j++
		}
	}
	p.Traits = out
}

// traitIndex finds t's name in p.Traits.
func (p *Profile) traitIndex(t Trait) (int, bool) {
	return slices.BinarySearchFunc(p.Traits, t.Name(), cmpTraitName)
}

func (p *Profile) addIdentifier(id cdp.Identifier) {
	i, ok := slices.BinarySearchFunc(p.Identifiers, id, cmpIdentifier)
	if !ok {
		p.Identifiers = slices.Insert(p.Identifiers, i, id)
	}
}

// userIDs counts the distinct user ids of p and users (a capped value's
// limit). An alias's previous id is on the profile as an anonymous id and
// a user id alike (Preparer.Prepare): the person's earlier id or device,
// not another user. Identifiers are sorted by type, then value: the
// anonymous ids and the user ids are two sorted runs, walked side by
// side, not searched for each user id.
func (p *Profile) userIDs(users []string) int {
	ids := p.Identifiers
	a0, a1, u0, u1 := 0, 0, 0, 0
	for i := range ids {
		switch ids[i].Type {
		case cdp.IDAnonymousID:
			if a1 == 0 {
				a0 = i
			}
			a1 = i + 1
		case cdp.IDUserID:
			if u1 == 0 {
				u0 = i
			}
			u1 = i + 1
		}
	}
	anon, user := ids[a0:a1], ids[u0:u1]
	n, j := 0, 0
	for _, u := range user {
		for j < len(anon) && anon[j].Value < u.Value {
			j++
		}
		if j == len(anon) || anon[j].Value != u.Value {
			n++
		}
	}
	for _, u := range users {
		if !slices.ContainsFunc(user, func(id cdp.Identifier) bool { return id.Value == u }) {
			n++
		}
	}
	return n
}

func cmpIdentifier(a, b cdp.Identifier) int {
	if c := strings.Compare(a.Type, b.Type); c != 0 {
		return c
	}
	return strings.Compare(a.Value, b.Value)
}

// seen widens first_seen and last_seen to ts; 0 is "never seen" in both
// (an event at the epoch counts as received), so a time before 1970 is
// below an unset last_seen and still sets it.
func (p *Profile) seen(ts int64) {
	if p.FirstSeen == 0 || ts < p.FirstSeen {
		p.FirstSeen = ts
	}
	if p.LastSeen == 0 || ts > p.LastSeen {
		p.LastSeen = ts
	}
}

// eventIndex finds name in p.Events. A loop of its own, as the apply
// loop counts most events: slices.BinarySearchFunc called a closure per step.
func (p *Profile) eventIndex(name string) (int, bool) {
	lo, hi := 0, len(p.Events)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if p.Events[m].Name < name {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(p.Events) && p.Events[lo].Name == name
}

func (p *Profile) countEvent(name string, ts int64, n int64) {
	i, ok := p.eventIndex(name)
	if !ok {
		p.Events = slices.Insert(p.Events, i, EventCount{Name: name})
	}
	c := &p.Events[i]
	c.Total += n
	d := DayCount{Day: dayOf(ts), N: int32(n)}
	if k := len(c.Days); k > 0 && c.Days[k-1].Day == d.Day { // the common case: another event of the newest day
		c.Days[k-1].N += d.N
		return
	}
	c.Days = addDays(c.Days, []DayCount{d})
}

// addDays merges two sorted day lists, adding counts, and keeps the last MaxDays days.
func addDays(a, b []DayCount) []DayCount {
	for _, d := range b {
		if k := len(a); k == 0 || a[k-1].Day < d.Day { // the usual case: a new newest day
			a = append(a, d)
			continue
		}
		j, ok := slices.BinarySearchFunc(a, d.Day, func(x DayCount, day int32) int { return int(x.Day - day) })
		if ok {
			a[j].N += d.N
		} else {
			a = slices.Insert(a, j, d)
		}
	}
	if len(a) > 0 {
		cut := a[len(a)-1].Day - MaxDays
		k := 0
		for k < len(a) && a[k].Day <= cut {
			k++
		}
		if k > 0 {
			a = slices.Delete(a, 0, k)
		}
	}
	return a
}

func (p *Profile) addGroup(g string) {
	x := p.more()
	i, ok := slices.BinarySearch(x.groups, g)
	if ok {
		return
	}
	// Keep the smallest maxGroups ids: the set does not depend on arrival order.
	if len(x.groups) >= maxGroups && i >= maxGroups {
		return
	}
	x.groups = slices.Insert(x.groups, i, strings.Clone(g))
	if len(x.groups) > maxGroups {
		x.groups = x.groups[:maxGroups]
	}
}

func (p *Profile) setLastPage(v string, ts, seq int64) {
	p.extra().LastPage.set(v, ts, seq)
}

// RecentEvents yields the recent events, newest first. Their strings
// point into the profile: valid while the caller holds it (in View's fn).
func (p *Profile) RecentEvents() iter.Seq[RecentEvent] { return p.recent.backward() }

// merge folds q's state into p; the result does not depend on which one
// is p. CDPID and Aliases are the store's business.
func (p *Profile) merge(q *Profile, maxRecent int) {
	for _, id := range q.Identifiers {
		p.addIdentifier(id)
	}
	for _, t := range q.Traits {
		p.setTrait(t)
	}
	p.EventsTotal += q.EventsTotal
	p.PageViews += q.PageViews
	p.ScreenViews += q.ScreenViews
	p.OrdersTotal += q.OrdersTotal
	p.RevenueMicros += q.RevenueMicros
	if q.FirstSeen != 0 {
		p.seen(q.FirstSeen)
	}
	if q.LastSeen != 0 {
		p.seen(q.LastSeen)
	}
	if q.Extra != nil {
		if lp := q.Extra.LastPage; lp.Value != "" || lp.TS != 0 {
			p.setLastPage(lp.Value, lp.TS, lp.Seq)
		}
		for _, g := range q.Groups() {
			p.addGroup(g)
		}
		p.mergeOrders(q)
	}
	for _, qc := range q.Events {
		i, ok := p.eventIndex(qc.Name)
		if !ok {
			p.Events = slices.Insert(p.Events, i, EventCount{Name: qc.Name})
		}
		c := &p.Events[i]
		c.Total += qc.Total
		c.Days = addDays(c.Days, qc.Days)
	}
	p.recent.merge(q.recent, maxRecent)
	p.UpdatedAt = max(p.UpdatedAt, q.UpdatedAt)
}

// older reports whether p is the older cluster: the smaller first_seen,
// then the smaller cdp id. Its id survives a merge. Both are the clusters'
// as they are at the merge, so unlike the rest of a profile the id may
// depend on arrival order (which clusters a link found, which event of
// each came first). No rule could be order-free and keep ids stable: an
// event that adds an identifier to a cluster keeps its id, so whichever
// of two linked identifiers arrives first names the cluster.
func (p *Profile) older(q *Profile) bool {
	if p.FirstSeen != q.FirstSeen {
		return p.FirstSeen < q.FirstSeen
	}
	return p.CDPID < q.CDPID
}

// size is the number of index entries that point at the profile.
func (p *Profile) size() int { return len(p.Identifiers) + 1 }

// memSize estimates the bytes the profile holds.
func (p *Profile) memSize() int {
	n := 208 + len(p.CDPID)
	if x := p.Extra; x != nil {
		n += 64 + len(x.LastPage.Value)
		for _, a := range x.Aliases {
			n += 16 + len(a)
		}
		if m := x.more; m != nil {
			n += 48
			for _, g := range m.groups {
				n += 16 + len(g)
			}
			for _, o := range m.orders {
				n += int(unsafe.Sizeof(o)) + len(o.id)
			}
		}
	}
	for _, id := range p.Identifiers {
		n += 32 + len(id.Type) + len(id.Value)
	}
	for _, t := range p.Traits {
		n += 32 + uvarintLen(len(t.Value())) + len(t.Value())
	}
	for _, e := range p.Events {
		n += 48 + len(e.Name) + 8*cap(e.Days)
	}
	return n + cap(p.recent)
}
