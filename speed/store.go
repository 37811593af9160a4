package speed

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/identity"
)

// IDCDP is the identifier type under which a profile's cdp id (and the ids
// of clusters merged into it) can be looked up. A cdp id is the index key
// of the identifier that created its cluster, so it needs no entry of its
// own: that identifier stays indexed, and follows every merge.
const IDCDP = "cdp_id"

// StoreConfig configures a profile store.
type StoreConfig struct {
	// Blocklist adds junk values ("value" or "type:value") to
	// identity.DefaultJunk; Allow takes values off it (identity.Junk).
	Blocklist []string
	Allow     []string
	// PhoneRegions are where phone numbers without a country code are read,
	// per event's workspace: the batch layer's, or reconcile is not exact.
	PhoneRegions identity.Regions
	// Caps: per identifier type, how many distinct user ids one value may
	// link before it is treated as shared and stops merging (0 = no cap).
	Caps map[string]int
	// IdentifierTraits maps an identify trait to the identifier type it carries.
	IdentifierTraits map[string]string
	// RecentEvents is the length of each profile's recent-events list.
	RecentEvents int
	// DedupeWindow is how long a (workspace, messageId) is remembered, at least.
	DedupeWindow time.Duration
	// DedupeMaxEntries bounds the dedupe set.
	DedupeMaxEntries int
	// CheckpointDeltas is how many delta checkpoints may follow a full one
	// (delta.go); 0: every checkpoint is full.
	CheckpointDeltas int
	// OnChange, when set, is called from the apply goroutine after an event
	// changed p; absorbed lists the cdp ids merged into p by that event. It
	// must not keep p nor block: it is the hook real-time segments evaluate in.
	OnChange func(p *Profile, absorbed []string)
	// Now is the wall clock for UpdatedAt.
	Now func() time.Time
}

// DefaultStoreConfig returns hygiene on: default blocklist, email and phone
// capped at 5 user ids, email/phone traits as identifiers.
func DefaultStoreConfig() StoreConfig {
	return StoreConfig{
		Caps:             map[string]int{cdp.IDEmail: 5, cdp.IDPhone: 5},
		IdentifierTraits: map[string]string{"email": cdp.IDEmail, "phone": cdp.IDPhone},
		RecentEvents:     20,
		DedupeWindow:     24 * time.Hour,
		DedupeMaxEntries: 10_000_000,
		CheckpointDeltas: 20,
		Now:              time.Now,
	}
}

// Validate checks the config.
func (c StoreConfig) Validate() error {
	switch {
	case c.CheckpointDeltas < 0:
		return fmt.Errorf("speed store: checkpoint deltas %d must not be negative", c.CheckpointDeltas)
	case c.RecentEvents < 0:
		return fmt.Errorf("speed store: recent events %d must not be negative", c.RecentEvents)
	case c.DedupeWindow < time.Minute:
		return fmt.Errorf("speed store: dedupe window %s must be at least 1m", c.DedupeWindow)
	case c.DedupeMaxEntries < 1:
		return fmt.Errorf("speed store: dedupe max entries %d must be positive", c.DedupeMaxEntries)
	}
	if err := c.PhoneRegions.Validate(); err != nil {
		return fmt.Errorf("speed store: %w", err)
	}
	for typ, n := range c.Caps {
		if n < 0 {
			return fmt.Errorf("speed store: cap of %s is %d, must not be negative", typ, n)
		}
	}
	return nil
}

const stripes = 256

// idKey is the 128-bit hash of (workspace, type, value).
type idKey [2]uint64

func idKeyOf(workspace, typ, value string) idKey {
	hi, lo := identity.IdentifierHash(workspace, typ, value)
	return idKey{hi, lo}
}

// link is an identifier with its index key.
type link struct {
	id cdp.Identifier
	k  idKey
}

// profileStripe locks the profiles whose handle is i mod stripes.
type profileStripe struct {
	mu sync.RWMutex
}

// profileTable maps handles to profiles. Handles are dense (Store.next),
// so it is a slice in fixed chunks, not a map: a look-up is two loads,
// not a hash probe (the apply loop does one per event), and a profile
// costs 8 bytes, not ~25. The slot of handle h is read and written under
// its stripe's lock, as a map entry was; chunks never move, and the
// directory of chunks is replaced, never changed, when it grows.
type profileTable struct {
	dir atomic.Pointer[[]*profileChunk]
}

const chunkBits = 12

type profileChunk [1 << chunkBits]*Profile

// get returns the profile of h, nil when none.
func (t *profileTable) get(h uint32) *Profile {
	d := t.dir.Load()
	if d == nil || int(h>>chunkBits) >= len(*d) {
		return nil
	}
	return (*d)[h>>chunkBits][h&(1<<chunkBits-1)]
}

// slot returns where the profile of h goes, adding chunks up to it.
// Apply goroutine only.
func (t *profileTable) slot(h uint32) **Profile {
	var d []*profileChunk
	if dp := t.dir.Load(); dp != nil {
		d = *dp
	}
	if i := int(h >> chunkBits); i >= len(d) {
		nd := make([]*profileChunk, i+1)
		copy(nd, d)
		for j := len(d); j <= i; j++ {
			nd[j] = new(profileChunk)
		}
		t.dir.Store(&nd)
		d = nd
	}
	return &d[h>>chunkBits][h&(1<<chunkBits-1)]
}

// each calls fn for the profiles whose handle is stripe mod stripes (all
// of them when stripe < 0), in handle order, until fn returns false.
// Apply goroutine only.
func (t *profileTable) each(stripe int, fn func(p *Profile) bool) bool {
	d := t.dir.Load()
	if d == nil {
		return true
	}
	for _, c := range *d {
		start, step := 0, 1
		if stripe >= 0 {
			start, step = stripe, stripes // chunk sizes are multiples of stripes
		}
		for i := start; i < len(c); i += step {
			if p := c[i]; p != nil && !fn(p) {
				return false
			}
		}
	}
	return true
}

// indexStripe is the part of the identity index whose keys are i mod
// stripes (by k[0]; the table picks slots by k[1]). Look-ups from other
// goroutines hold mu for reading; the apply goroutine, the only writer,
// reads without it and holds it to write.
type indexStripe struct {
	mu sync.RWMutex
	t  keyTable[uint32]
}

// Store is the in-memory profile store: profiles in stripes by handle, an
// identity index (workspace, type, value) → profile in stripes by hash,
// the dedupe set and the next Kafka offset of every partition.
//
// One goroutine applies (Apply, WriteTo); any number look up (View)
// concurrently. A store is self-contained, so a new one can be built in
// the background (load a base, replay deltas) and swapped in atomically.
type Store struct {
	cfg      StoreConfig
	caps     []typeCap              // cfg.Caps above 0
	profiles [stripes]profileStripe // locks of table's slots
	table    profileTable
	index    [stripes]indexStripe

	// Owned by the apply goroutine.
	next    uint32
	shared  map[idKey]bool // capped values found shared: they link nothing any more
	dedupe  *dedupe
	offsets map[int]int64 // partition → next offset to apply
	names   map[string]string
	ws      string    // the last event's workspace, interned: the next one's is usually the same
	ext     storeExt  // reconcile and segment state (storeext.go)
	snap    *Snapshot // the checkpoint being written, if any (snapshot.go)
	// gen is the change generation: a profile changed now gets it in
	// Profile.changed, and each snapshot starts the next (delta.go).
	gen, lastGen uint32      // lastGen: the previous snapshot's
	removed      []removedID // cdp ids merged away since the last snapshot
	chain        chainState
	// copies maps a partition of cdp.events to the position in
	// cdp.events.rejected at or past which the copies of its poison
	// messages at offsets from offsets[partition] on lie (poison.go). The
	// consumer sets it before each snapshot; it is replaced, never
	// changed in place, so a snapshot's header shares it.
	copies map[int]copyMark
	// warmSink keeps Warm's reads from being optimized away.
	warmSink uint64

	stats storeStats
}

type storeStats struct {
	profiles, identifiers, merges, applied, duplicates, unattributed, poison, shared atomic.Int64
	dedupeN, dedupeEvicted                                                           atomic.Int64
	mu                                                                               sync.Mutex
	blocked, capped                                                                  map[string]int64
}

// Stats is a snapshot of a store's counters.
type Stats struct {
	Profiles, Identifiers, Merges, Applied, Duplicates, Unattributed, Poison, Shared int64
	DedupeEntries, DedupeEvicted                                                     int64
	Blocked, Capped                                                                  map[string]int64 // by identifier type
}

// NewStore returns an empty store.
func NewStore(cfg StoreConfig) (*Store, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{
		gen:     1,
		cfg:     cfg,
		shared:  map[idKey]bool{},
		dedupe:  newDedupe(cfg.DedupeWindow, cfg.DedupeMaxEntries),
		offsets: map[int]int64{},
		names:   map[string]string{},
	}
	s.dedupe.logging = cfg.CheckpointDeltas > 0
	for typ, n := range cfg.Caps {
		if n > 0 {
			s.caps = append(s.caps, typeCap{typ, n})
		}
	}
	// Every type that can count starts at 0, so /metrics shows the series
	// before the first refusal: an alert on increase() sees that one too.
	s.stats.blocked = map[string]int64{cdp.IDUserID: 0, cdp.IDAnonymousID: 0}
	for _, typ := range cfg.IdentifierTraits {
		s.stats.blocked[typ] = 0
	}
	s.stats.capped = map[string]int64{}
	for _, c := range s.caps {
		s.stats.capped[c.typ] = 0
	}
	return s, nil
}

// Reserve makes room in the dedupe set for n messages more: a consumer
// that starts n messages behind would otherwise grow it step by step,
// rehashing every key about once more. Apply goroutine only.
func (s *Store) Reserve(n int) { s.dedupe.reserve(n) }

// Offsets returns the next offset to apply per partition. Apply goroutine only.
func (s *Store) Offsets() map[int]int64 { return maps.Clone(s.offsets) }

// Stats returns the store's counters; safe from any goroutine.
func (s *Store) Stats() Stats {
	st := Stats{
		Profiles: s.stats.profiles.Load(), Identifiers: s.stats.identifiers.Load(), Merges: s.stats.merges.Load(),
		Applied: s.stats.applied.Load(), Duplicates: s.stats.duplicates.Load(), Unattributed: s.stats.unattributed.Load(),
		Poison: s.stats.poison.Load(), Shared: s.stats.shared.Load(),
	}
	s.stats.mu.Lock()
	st.Blocked, st.Capped = maps.Clone(s.stats.blocked), maps.Clone(s.stats.capped)
	st.DedupeEntries, st.DedupeEvicted = s.stats.dedupeN.Load(), s.stats.dedupeEvicted.Load()
	s.stats.mu.Unlock()
	return st
}

// View calls fn with the profile that holds identifier id in workspace,
// under its stripe's read lock: fn must not keep p. The value must be
// normalized already (identity.Normalize). cdp.ErrNotFound when unknown.
func (s *Store) View(workspace string, id cdp.Identifier, fn func(p *Profile)) error {
	if id.Type == IDCDP {
		// The key the id was derived from, else a batch build's cdp_id identifier.
		var kb [2]idKey
		for _, k := range cdpKeys(kb[:0], workspace, id.Value) {
			if err := s.view(workspace, k, fn); err == nil {
				return nil
			}
		}
		return cdp.ErrNotFound
	}
	return s.view(workspace, idKeyOf(workspace, id.Type, id.Value), fn)
}

func (s *Store) view(workspace string, k idKey, fn func(p *Profile)) error {
	is := &s.index[k[0]%stripes]
	// A merge moves identifiers between profiles; the retry covers the
	// instant between reading the index and locking the profile.
	for range 8 {
		is.mu.RLock()
		h, ok := is.t.get(k)
		is.mu.RUnlock()
		if !ok {
			return cdp.ErrNotFound
		}
		ps := &s.profiles[h%stripes]
		ps.mu.RLock()
		p := s.table.get(h)
		if p != nil {
			if p.Workspace != workspace { // a cdp id of another workspace
				ps.mu.RUnlock()
				return cdp.ErrNotFound
			}
			fn(p)
			ps.mu.RUnlock()
			return nil
		}
		ps.mu.RUnlock()
	}
	return cdp.ErrNotFound
}

// warmGroup is how many ops Warm reads ahead for.
const warmGroup = 8

// Warm reads, without changing anything, the memory the ops will touch
// when applied: the ops' events and records, their dedupe slots, identity
// index entries, profiles and the profiles' lists. Applying is a chain of
// dependent cache misses per event (index, profile, its lists); reading
// ahead for a group of ops stage by stage lets the misses of different
// ops overlap. It is a hint: what it reads may change before the ops are
// applied. Apply goroutine only.
func (s *Store) Warm(ops []*Op) {
	if len(ops) > warmGroup {
		ops = ops[:warmGroup]
	}
	var hs [warmGroup * 4]uint32
	n := 0
	var sink uint64
	d := s.dedupe
	for _, o := range ops {
		if o.Err != nil {
			continue
		}
		// A new message is looked for in every generation.
		for _, g := range d.gens {
			sink += g.Set.peek(o.msgKey)
		}
		// The op itself was written by a fetch goroutine on another core.
		sink += uint64(len(o.Event.Type) + len(o.recent))
		if len(o.recent) > 0 {
			sink += uint64(o.recent[0] + o.recent[len(o.recent)-1])
		}
		for _, l := range o.links {
			if h, ok := s.lookupID(l.k); ok && n < len(hs) {
				hs[n] = h
				n++
			}
		}
	}
	var ps [warmGroup * 4]*Profile
	for i, h := range hs[:n] {
		if p := s.table.get(h); p != nil {
			ps[i] = p
			// Applying writes from EventsTotal to UpdatedAt: up to three cache lines.
			sink += uint64(p.EventsTotal + p.LastSeen + p.UpdatedAt)
		}
	}
	for _, p := range ps[:n] {
		if p == nil {
			continue
		}
		if k := len(p.Events); k > 0 {
			sink += uint64(p.Events[k/2].Total)
		}
		if l := p.recent; l.len() > 0 {
			sink += uint64(l[l.newest()])
		}
	}
	s.warmSink = sink
}

// Apply applies one prepared op, stamping what it changes with the wall
// clock: the apply goroutine only.
func (s *Store) Apply(o *Op) { s.ApplyAt(o, s.clock()) }

// ApplyAt applies o as Apply does, stamping what it changes with now (Unix
// ns, of the store's clock): a loop that applies a batch reads the clock
// once for all of it, not once per event.
func (s *Store) ApplyAt(o *Op, now int64) {
	if s.snap != nil && s.snap.done.Load() {
		s.endSnapshot()
	}
	if next := o.Offset + 1; next > s.offsets[o.Partition] {
		s.offsets[o.Partition] = next
	}
	if len(o.Blocked) > 0 {
		s.stats.mu.Lock()
		for _, t := range o.Blocked {
			s.stats.blocked[t]++
		}
		s.stats.mu.Unlock()
	}
	if o.Err != nil {
		s.stats.poison.Add(1)
		return
	}
	e := o.Event
	ws := s.ws
	if ws != e.Workspace {
		ws = s.intern(e.Workspace)
		s.ws = ws
	}
	dup := s.duplicate(o)
	s.stats.dedupeN.Store(int64(s.dedupe.n))
	s.stats.dedupeEvicted.Store(s.dedupe.evicted)
	if dup {
		s.stats.duplicates.Add(1)
		return
	}
	var buf [8]link
	ids := s.applyCaps(ws, append(buf[:0], o.links...))
	if len(ids) == 0 {
		s.stats.unattributed.Add(1)
		return
	}
	h, absorbed, added := s.resolve(ws, ids)
	o.kept = o.kept || added
	s.stats.applied.Add(1)

	ps := &s.profiles[h%stripes]
	ps.mu.Lock()
	p := s.table.get(h)
	s.preserve(h, p)
	s.applyEvent(p, o)
	p.UpdatedAt = now
	ps.mu.Unlock()
	if s.cfg.OnChange != nil {
		s.cfg.OnChange(p, absorbed)
	}
}

// clock reads the wall clock for UpdatedAt, in Unix ns.
func (s *Store) clock() int64 { return s.cfg.Now().UnixNano() }

// lookupID reads the index from the apply goroutine (no lock: it is the only writer).
func (s *Store) lookupID(k idKey) (uint32, bool) {
	return s.index[k[0]%stripes].t.get(k)
}

// intern returns a shared copy of a repeated string (workspaces, trait and
// event names); never the caller's, which may point into a Kafka message.
func (s *Store) intern(v string) string { return internIn(s.names, v) }

// maxNames bounds a names map: a stream of distinct names is not shared.
const maxNames = 100_000

func internIn(names map[string]string, v string) string {
	if x, ok := names[v]; ok {
		return x
	}
	v = strings.Clone(v)
	if len(names) < maxNames {
		names[v] = v
	}
	return v
}

func (s *Store) applyEvent(p *Profile, o *Op) {
	e := o.Event
	ts, seq := e.Timestamp.UnixNano(), o.seq()
	p.seen(ts)
	p.EventsTotal++
	switch e.Type {
	case cdp.Identify:
		p.mergeTraits(o.Traits)
	case cdp.Track:
		p.countEvent(s.intern(e.Event), ts, 1)
		p.OrdersTotal += o.Orders
		p.RevenueMicros += o.Revenue
	case cdp.Page, cdp.Screen:
		if e.Type == cdp.Page {
			p.PageViews++
		} else {
			p.ScreenViews++
		}
		if o.Page != "" {
			p.setLastPage(o.Page, ts, seq)
			o.kept = true
		}
	case cdp.Group:
		p.addGroup(e.GroupID)
	}
	p.recent.add(o.recent, s.cfg.RecentEvents)
}

// canonicalType returns the package constant, not the decoded string
// (which may point into a whole Kafka message).
func canonicalType(t cdp.EventType) cdp.EventType {
	for _, c := range cdp.EventTypes {
		if c == t {
			return c
		}
	}
	return cdp.EventType(strings.Clone(string(t)))
}

// applyCaps drops capped identifiers that may no longer link (in place). A value of
// a capped type (email, phone) is shared once the profile it belongs to
// and the event's user ids add up to more than cap distinct user ids:
// from then on it links nothing, and it stays on the profile it was on.
// Which user ids it linked is the first ones to arrive, so unlike the rest
// of the store caps depend on arrival order; a reconcile loads the batch
// build's verdicts, counted over all of its events.
func (s *Store) applyCaps(ws string, ids []link) []link {
	var ubuf [2]string
	users := ubuf[:0]
	capped := false
	for _, l := range ids {
		if l.id.Type == cdp.IDUserID {
			users = append(users, l.id.Value)
		}
		capped = capped || s.capOf(l.id.Type) > 0
	}
	if !capped {
		return ids
	}
	out := ids[:0]
	for _, l := range ids {
		if limit := s.capOf(l.id.Type); limit > 0 && !s.capOK(ws, l, limit, users) {
			s.stats.mu.Lock()
			s.stats.capped[l.id.Type]++
			s.stats.mu.Unlock()
			continue
		}
		out = append(out, l)
	}
	return out
}

// typeCap is the cap of an identifier type.
type typeCap struct {
	typ string
	n   int
}

// capOf is the cap of typ, 0 for none. The types capped are few: a scan
// costs less than hashing typ for cfg.Caps, once per identifier applied.
func (s *Store) capOf(typ string) int {
	for _, c := range s.caps {
		if c.typ == typ {
			return c.n
		}
	}
	return 0
}

func (s *Store) capOK(ws string, l link, limit int, users []string) bool {
	if s.shared[l.k] {
		return false
	}
	if len(users) == 0 {
		return true
	}
	h, ok := s.lookupID(l.k)
	if !ok {
		return len(users) <= limit
	}
	if s.table.get(h).userIDs(users) <= limit {
		return true
	}
	s.shared[l.k] = true
	s.stats.shared.Add(1)
	slog.Warn("identifier is shared by more user ids than its cap; it no longer merges profiles",
		"workspace", ws, "type", l.id.Type, "value", l.id.Value, "cap", limit)
	return false
}

// resolve finds the profile of ids, creating or merging as needed, and
// records every identifier in it. It returns the handle, the cdp ids
// merged away and whether it added identifiers (it keeps their values).
func (s *Store) resolve(ws string, ids []link) (uint32, []string, bool) {
	var hbuf [4]uint32
	hs := hbuf[:0]
	var mbuf [4]link
	missing := mbuf[:0]
	for _, l := range ids {
		h, ok := s.lookupID(l.k)
		if !ok {
			missing = append(missing, l)
			continue
		}
		dup := false
		for _, x := range hs {
			dup = dup || x == h
		}
		if !dup {
			hs = append(hs, h)
		}
	}
	var h uint32
	var absorbed []string
	switch len(hs) {
	case 0:
		h = s.create(ws, ids)
	case 1:
		h = hs[0]
	default:
		h, absorbed = s.merge(hs)
	}
	if len(missing) > 0 {
		ps := &s.profiles[h%stripes]
		ps.mu.Lock()
		p := s.table.get(h)
		s.preserve(h, p)
		p.Identifiers = slices.Grow(p.Identifiers, len(missing)) // one allocation, not one per identifier
		for _, l := range missing {
			p.addIdentifier(l.id)
		}
		ps.mu.Unlock()
		for _, l := range missing {
			s.setIndex(l.k, h)
		}
		s.stats.identifiers.Add(int64(len(missing)))
	}
	return h, absorbed, len(missing) > 0
}

func (s *Store) setIndex(k idKey, h uint32) {
	is := &s.index[k[0]%stripes]
	is.mu.Lock()
	is.t.put(k, h)
	is.mu.Unlock()
}

// NewCDPID derives a profile's id from the identifier that created it, so
// a replay or a rebuild assigns the same ids: "cdp_" and the 32 hex digits
// of that identifier's index key.
func NewCDPID(workspace string, first cdp.Identifier) string {
	return identity.CDPID(workspace, first.Type, first.Value)
}

// parseCDPID returns the index key a cdp id stands for; View checks the
// workspace of the profile it finds.
func parseCDPID(id string) (idKey, bool) {
	hx, ok := strings.CutPrefix(id, "cdp_")
	if !ok || len(hx) != 32 {
		return idKey{}, false
	}
	var b [16]byte
	if _, err := hex.Decode(b[:], []byte(hx)); err != nil {
		return idKey{}, false
	}
	return idKey{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}, true
}

func (s *Store) create(ws string, ids []link) uint32 {
	first := ids[0]
	for _, l := range ids[1:] {
		if cmpIdentifier(l.id, first.id) < 0 {
			first = l
		}
	}
	s.next++
	h := s.next
	// NewCDPID's id, from the index key at hand: not hashed again.
	p := &Profile{CDPID: identity.FormatCDPID(first.k[0], first.k[1]), Workspace: ws, changed: s.gen}
	s.insert(h, p)
	s.stats.profiles.Add(1)
	return h
}

// insert puts p under handle h (identifiers are indexed by the caller).
func (s *Store) insert(h uint32, p *Profile) {
	slot := s.table.slot(h)
	ps := &s.profiles[h%stripes]
	ps.mu.Lock()
	*slot = p
	ps.mu.Unlock()
}

// merge folds the profiles of hs into one. The data stays in the largest
// (fewest index entries to move); the id is the older cluster's.
func (s *Store) merge(hs []uint32) (uint32, []string) {
	get := s.table.get
	keep := hs[0]
	for _, h := range hs[1:] {
		if get(h).size() > get(keep).size() {
			keep = h
		}
	}
	p := get(keep)
	var absorbed []string
	for _, h := range hs {
		if h == keep {
			continue
		}
		q := get(h)
		id, lost := p.CDPID, q.CDPID
		if q.older(p) {
			id, lost = q.CDPID, p.CDPID
		}
		absorbed = append(absorbed, lost)
		s.removed = append(s.removed, removedID{q.Workspace, lost})
		ps, qs := &s.profiles[keep%stripes], &s.profiles[h%stripes]
		if s.snap != nil { // a checkpoint under way keeps q as it was, though it goes
			qs.mu.Lock()
			s.preserve(h, q)
			qs.mu.Unlock()
		}
		ps.mu.Lock()
		s.preserve(keep, p)
		if qs != ps {
			qs.mu.RLock() // readers may hold it too; q does not change
		}
		aliases := append(p.Aliases(), lost)
		aliases = append(aliases, q.Aliases()...)
		p.merge(q, s.cfg.RecentEvents)
		p.CDPID = id
		p.extra().Aliases = aliases
		if qs != ps {
			qs.mu.RUnlock()
		}
		ps.mu.Unlock()
		// Repoint q's identifiers, then drop q: a reader in between sees
		// q's old state or the merged one, never nothing.
		ws := q.Workspace
		for _, id := range q.Identifiers {
			s.setIndex(idKeyOf(ws, id.Type, id.Value), keep)
		}
		qs.mu.Lock()
		*s.table.slot(h) = nil
		qs.mu.Unlock()
		s.stats.profiles.Add(-1)
		s.stats.merges.Add(1)
	}
	return keep, absorbed
}

// Range calls fn for every profile until it returns false. Apply goroutine
// only (or a store nobody applies to).
func (s *Store) Range(fn func(p *Profile) bool) {
	s.table.each(-1, fn)
}

// MemoryEstimate is an estimate of the bytes the store holds; the mean
// size of a profile is what delta checkpoints count them at until the
// next full one. Apply goroutine only.
func (s *Store) MemoryEstimate() int64 {
	var n, k int64
	s.Range(func(p *Profile) bool { n += int64(p.memSize()); k++; return true })
	if k > 0 {
		s.chain.profileBytes.Store(n / k)
	}
	return n + s.memoryBesideProfiles()
}

// memoryBesideProfiles is MemoryEstimate without the profiles. Apply goroutine only.
func (s *Store) memoryBesideProfiles() int64 {
	var n int64
	for i := range s.index {
		n += int64(s.index[i].t.bytes())
	}
	n += int64(s.next) * 8 // table slots
	n += int64(s.dedupe.n) * 40
	n += int64(len(s.shared)) * 40
	return n
}

var errCorrupt = errors.New("speed checkpoint is corrupt")
