package speed

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	gojson "github.com/goccy/go-json"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/identity"
	"github.com/tributary-cdp/tributary/lake"
)

// Build is a curated build the speed layer loads as its base: golden
// profiles and the identity map, and the watermark W (per partition of
// cdp.events, the next offset the build does not include).
type Build struct {
	Version     int64
	Watermark   map[int32]int64
	Profiles    []lake.File // curated/profiles
	IdentityMap []lake.File // curated/identity_map
	RequestedAt time.Time
}

// baseSeq is the Kafka position of base state the build does not place (a
// CRM value): lower than any event's, so a delta with the same timestamp
// wins over it.
const baseSeq = -1

// baseSeqAt is the Kafka position of a base trait whose provenance gives
// its event's partition and offset (-1 when absent): traits of equal
// times then order as the speed layer ordered their events.
func baseSeqAt(partition, offset int64) int64 {
	if partition < 0 || partition >= maxPartitions || offset < 0 || offset > math.MaxInt64>>partitionBits {
		return baseSeq
	}
	return position(int(partition), offset)
}

// Columns of the files a base load reads, in the order of their readers'
// row slices.
var (
	idmapColumns   = []string{"workspace", "id_type", "id_value", "cdp_id"}
	profileColumns = []string{"workspace", "cdp_id", "identifiers", "traits", "provenance", "events_total", "event_counts",
		"page_views", "screen_views", "first_seen", "last_seen", "revenue_total", "orders_total", "event_days", "updated_at", "orders"}
)

// LoadBase builds a store holding the build's profiles, its offsets at the
// watermark. cfg's OnChange is not called while loading.
//
// Both tables are read on every core, a row group per worker, only the
// columns the store needs, values read in place (no copy of a row): the
// identity map first (clusterIndex), then the profiles, decoded where they
// are read. One goroutine adds the decoded profiles in file order (an
// identifier the build gave to two clusters stays with the first), with
// their index keys computed by the workers.
func LoadBase(ctx context.Context, st lake.Storage, b *Build, cfg StoreConfig) (*Store, error) {
	cfg.OnChange = nil
	s, err := NewStore(cfg)
	if err != nil {
		return nil, err
	}
	workers := max(1, runtime.GOMAXPROCS(0))
	clusters, err := loadClusters(ctx, st, b.IdentityMap, workers)
	if err != nil {
		return nil, err
	}
	// The index's size is about known: the identity map's rows (every
	// identifier of the build once) or, without one, a few per profile.
	var idRows, profileRows int64
	for _, f := range b.IdentityMap {
		idRows += f.Rows
	}
	for _, f := range b.Profiles {
		profileRows += f.Rows
	}
	if hint := max(idRows, 4*profileRows) / stripes; hint > 0 {
		for i := range s.index {
			s.index[i].t.reserve(int(hint + hint/8))
		}
	}

	files, closeAll, err := openParquets(ctx, st, b.Profiles, profileColumns)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	tasks := rowGroupTasks(files)
	for _, t := range tasks {
		t.out = make(chan *baseBatch, (t.rows+baseBatchRows-1)/baseBatchRows+1) // never blocks a worker
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, len(tasks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := newBaseDecoder(clusters)
			for {
				i := int(next.Add(1) - 1)
				if i >= len(tasks) {
					return
				}
				d.profiles(wctx, tasks[i])
			}
		}()
	}
	// Add in file order, the workers running ahead.
	var addErr error
	for _, t := range tasks {
		for bb := range t.out {
			if addErr == nil && bb.err != nil {
				addErr = bb.err
				cancel()
			}
			if addErr != nil {
				continue
			}
			keys := bb.keys
			for _, p := range bb.out {
				n := len(p.Identifiers)
				s.addBase(p, keys[:n:n])
				keys = keys[n:]
			}
		}
	}
	wg.Wait()
	if addErr != nil {
		return nil, addErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err // the workers stopped early
	}
	for p, off := range b.Watermark {
		s.offsets[int(p)] = off
	}
	s.ext.baseVersion = b.Version
	return s, nil
}

// baseBatchRows is how many rows a worker decodes before it hands them over.
const baseBatchRows = 512

// baseBatch is a run of decoded profiles of one row group, with the index
// keys of their identifiers (in order, len(Identifiers) per profile).
type baseBatch struct {
	out  []*Profile
	keys []idKey
	err  error
}

// addBase inserts a decoded profile and indexes its identifiers (keys[i]
// is the key of p.Identifiers[i]). An identifier already indexed (the
// build gave it to two clusters) stays with the first.
func (s *Store) addBase(p *Profile, keys []idKey) {
	p.Workspace = s.intern(p.Workspace)
	for i := range p.Identifiers {
		p.Identifiers[i].Type = s.intern(p.Identifiers[i].Type)
	}
	for i := range p.Events {
		p.Events[i].Name = s.intern(p.Events[i].Name)
	}
	s.next++
	h := s.next
	s.insert(h, p)
	n := 0
	for i, k := range keys {
		if _, taken := s.lookupID(k); taken {
			continue
		}
		s.setIndex(k, h)
		p.Identifiers[n] = p.Identifiers[i]
		n++
	}
	if n < len(p.Identifiers) {
		clear(p.Identifiers[n:])
		p.Identifiers = slices.Clip(p.Identifiers[:n])
	}
	s.stats.profiles.Add(1)
	s.stats.identifiers.Add(int64(n))
}

// baseDecoder decodes curated rows into profiles; one per worker. Its
// scratch slices and caches are reused from row to row.
type baseDecoder struct {
	clusters *clusterIndex
	names    map[string]string // interned workspaces, identifier types, event names
	vals     []parquet.Value   // a batch of rows, column after column per row
	ids      []cdp.Identifier
	keys     []idKey
	specs    []traitSpec
	times    []nameTime
	counts   []EventCount
	rawDays  []rawDay
	days     []eventDay
	lastTime cachedParse // the last provenance time parsed
	lastDay  cachedParse // the last event day parsed
}

func newBaseDecoder(c *clusterIndex) *baseDecoder {
	return &baseDecoder{clusters: c, names: map[string]string{}}
}

// intern returns a copy of b shared by the decoder's rows (a bounded set:
// past it, a copy of its own).
func (d *baseDecoder) intern(b string) string {
	if v, ok := d.names[b]; ok {
		return v
	}
	v := strings.Clone(b)
	if len(d.names) < 10_000 {
		d.names[v] = v
	}
	return v
}

// cachedParse remembers the last string parsed (copied: the input may be
// a page buffer) and its result.
type cachedParse struct {
	buf [40]byte
	n   int
	v   int64
	err error
	ok  bool
}

func (c *cachedParse) get(s string) (int64, error, bool) {
	if c.ok && len(s) == c.n && string(c.buf[:c.n]) == s {
		return c.v, c.err, true
	}
	return 0, nil, false
}

func (c *cachedParse) put(s string, v int64, err error) {
	if len(s) > len(c.buf) {
		c.ok = false
		return
	}
	c.n = copy(c.buf[:], s)
	c.v, c.err, c.ok = v, err, true
}

// profiles decodes the rows of one row group into t.out, and closes it.
func (d *baseDecoder) profiles(ctx context.Context, t *rowGroupTask) {
	defer close(t.out)
	fail := func(err error) { t.out <- &baseBatch{err: err} }
	if ctx.Err() != nil {
		return
	}
	rd, err := newColumnReader(t)
	if err != nil {
		fail(err)
		return
	}
	defer rd.close()
	nc := len(rd.cols)
	for done := int64(0); done < t.rows; {
		if err := ctx.Err(); err != nil {
			return
		}
		n := int(min(baseBatchRows, t.rows-done))
		d.vals = slices.Grow(d.vals[:0], n*nc)[:n*nc]
		if err := rd.read(d.vals, n); err != nil {
			fail(fmt.Errorf("read %s: %w", t.file.key, err))
			return
		}
		done += int64(n)
		bb := &baseBatch{out: make([]*Profile, 0, n)}
		for i := range n {
			r := row{vals: d.vals[i*nc : (i+1)*nc], units: rd.units}
			p, err := d.profile(&r)
			if err != nil {
				fail(fmt.Errorf("%s: profile %s: %w", t.file.key, r.bytes(1), err))
				return
			}
			if p != nil {
				bb.out = append(bb.out, p)
				bb.keys = append(bb.keys, d.keys...)
			}
		}
		t.out <- bb
	}
}

// profile decodes one curated row (profileColumns); nil when it names no
// profile or no identifier. Nothing of the result points into the row.
func (d *baseDecoder) profile(r *row) (*Profile, error) {
	ws, id := rawString(r.bytes(0)), rawString(r.bytes(1))
	if ws == "" || id == "" {
		return nil, nil
	}
	// The identifiers: the column's and the identity map's, a sorted set
	// (as addIdentifier makes it). The column is sorted already as the
	// curate job writes it, and holds the identity map's as well: then
	// nothing is sorted.
	ids := d.ids[:0]
	if txt := r.bytes(2); len(txt) > 0 {
		var err error
		if ids, err = appendIdentifiers(ids, txt); err != nil {
			return nil, fmt.Errorf("identifiers: %w", err)
		}
	}
	ids = slices.DeleteFunc(ids, func(x cdp.Identifier) bool { return x.Type == "" || x.Value == "" })
	if !sortedSet(ids) {
		slices.SortFunc(ids, cmpIdentifier)
		ids = slices.Compact(ids)
	}
	// The identity map's identifiers the column lacks, by index key (the
	// key is the identifier to the store), so the values are not read.
	keys := d.keys[:0]
	for _, x := range ids {
		keys = append(keys, idKeyOf(ws, x.Type, x.Value))
	}
	n := len(ids)
	for _, e := range d.clusters.cluster(ws, id) {
		if !slices.Contains(keys[:n], e.id) {
			ids = append(ids, cdp.Identifier{Type: d.clusters.types[e.typ], Value: e.val})
			keys = append(keys, e.id)
		}
	}
	if len(ids) > n {
		slices.SortFunc(ids, cmpIdentifier)
		ids = slices.Compact(ids)
		keys = keys[:0]
		for _, x := range ids {
			keys = append(keys, idKeyOf(ws, x.Type, x.Value))
		}
	}
	d.ids = ids
	if len(ids) == 0 {
		return nil, nil
	}
	// Look-ups by cdp id go through the key it was derived from (one of
	// its identifiers) or, when it was not, through an identifier of type
	// cdp_id, which merges carry along.
	cdpKey, parsed := parseCDPID(id)
	derived := parsed && slices.Contains(keys, cdpKey)
	if !derived {
		x := cdp.Identifier{Type: IDCDP, Value: id}
		if i, found := slices.BinarySearchFunc(ids, x, cmpIdentifier); !found {
			ids = slices.Insert(ids, i, x)
			keys = slices.Insert(keys, i, idKeyOf(ws, IDCDP, id))
		}
	}
	d.ids, d.keys = ids, keys

	// The cdp id and the identifier values in one allocation.
	size := len(id)
	for _, x := range ids {
		if x.Type != IDCDP || x.Value != id {
			size += len(x.Value)
		}
	}
	arena := make([]byte, 0, size)
	keep := func(v string) string {
		at := len(arena)
		arena = append(arena, v...)
		return unsafe.String(&arena[at], len(v))
	}
	p := &Profile{CDPID: keep(id), Workspace: d.intern(ws)}
	p.Identifiers = make([]cdp.Identifier, len(ids))
	for i, x := range ids {
		if x.Type == IDCDP && x.Value == id {
			p.Identifiers[i] = cdp.Identifier{Type: IDCDP, Value: p.CDPID}
			continue
		}
		p.Identifiers[i] = cdp.Identifier{Type: d.intern(x.Type), Value: keep(x.Value)}
	}

	// Traits, last-writer-wins at the time their provenance gives.
	if txt := r.bytes(3); len(txt) > 0 && string(txt) != "{}" {
		specs, err := d.traits(rawString(txt), rawString(r.bytes(4)))
		if err != nil {
			return nil, err
		}
		p.Traits = packTraits(specs)
	}
	p.EventsTotal = r.int(5)
	p.PageViews = r.int(7)
	p.ScreenViews = r.int(8)
	p.FirstSeen = r.time(9)
	p.LastSeen = r.time(10)
	p.RevenueMicros = micros(r.float(11))
	p.OrdersTotal = r.int(12)
	p.UpdatedAt = r.time(14)
	// Per-event totals, and per-day counts for time windows.
	if txt := r.bytes(6); len(txt) > 0 && string(txt) != "{}" {
		counts, err := appendCounts(d.counts[:0], rawString(txt))
		d.counts = counts
		if err != nil {
			return nil, err
		}
		if len(counts) > 0 {
			p.Events = make([]EventCount, len(counts))
			for i, c := range counts {
				p.Events[i] = EventCount{Name: d.intern(c.Name), Total: c.Total}
			}
		}
	}
	if txt := r.bytes(13); len(txt) > 0 && string(txt) != "[]" {
		if err := d.eventDays(p, txt); err != nil {
			return nil, err
		}
	}
	// The orders the build remembers; revenue_total and orders_total
	// count them already. A build of before the column has none.
	if txt := r.bytes(15); len(txt) > 0 && string(txt) != "[]" {
		list, err := baseOrders(txt)
		if err != nil {
			return nil, fmt.Errorf("orders: %w", err)
		}
		if list != nil {
			p.more().orders = list
		}
	}
	return p, nil
}

// baseOrder is one entry of the orders column (curate_profiles.sql): at
// in Unix microseconds, amounts in millionths; at, the position, amount
// and total are null for an order not completed.
type baseOrder struct {
	OrderID           string `json:"order_id"`
	At                *int64 `json:"at"`
	Partition         *int64 `json:"kafka_partition"`
	Offset            *int64 `json:"kafka_offset"`
	Amount            *int64 `json:"amount"`
	Total             *int64 `json:"total"`
	RefundTotal       int64  `json:"refund_total"`
	RefundTotalAmount int64  `json:"refund_total_amount"`
	RefundOther       int64  `json:"refund_other"`
	RefundFull        bool   `json:"refund_full"`
}

// baseOrders reads an orders column, nil for an empty list. Profiles
// with orders are the fewer, and the column is read by goccy alone.
func baseOrders(txt []byte) ([]order, error) {
	if !json.Valid(txt) { // goccy can panic on malformed JSON (decodeGeneral)
		return nil, errors.New("not JSON")
	}
	var rows []baseOrder
	if err := gojson.Unmarshal(txt, &rows); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	list := make([]order, 0, len(rows))
	for _, r := range rows {
		if r.OrderID == "" {
			return nil, errors.New("an order without order_id")
		}
		o := order{id: r.OrderID, refundTotal: r.RefundTotal, refundTotalAmount: r.RefundTotalAmount, refundOther: r.RefundOther}
		if r.RefundFull {
			o.flags |= orderRefundFull
		}
		if r.At != nil {
			o.flags |= orderCompleted
			o.ts, o.seq = *r.At*1000, baseSeq
			if r.Partition != nil && r.Offset != nil {
				o.seq = baseSeqAt(*r.Partition, *r.Offset)
			}
			if r.Amount != nil {
				o.amount = *r.Amount
			}
			if r.Total != nil {
				o.total, o.flags = *r.Total, o.flags|orderHasTotal
			}
		}
		if k := len(list); k == 0 || list[k-1].id < o.id {
			list = append(list, o) // as curate writes the column: sorted, each order_id once
			continue
		}
		findOrder(&list, o.id).merge(&o)
	}
	return list, nil
}

// appendRawDays appends the entries of an event_days column; the strings
// point into txt.
func appendRawDays(dst []rawDay, txt []byte) ([]rawDay, error) {
	start := len(dst)
	fast := cdp.ArrayElems(txt, func(v []byte) bool {
		var x rawDay
		ok := cdp.ObjectFields(v, func(k string, fv []byte) bool {
			switch k {
			case "event", "day":
				s, end, ok := cdp.PlainString(fv, 0)
				if !ok || end != len(fv) {
					return false
				}
				if k == "event" {
					x.Event = s
				} else {
					x.Day = s
				}
				return true
			case "n":
				n, err := strconv.ParseInt(string(fv), 10, 32)
				x.N = int32(n)
				return err == nil
			}
			return !strings.EqualFold(k, "event") && !strings.EqualFold(k, "day") && !strings.EqualFold(k, "n") // goccy matches keys case-insensitively
		})
		dst = append(dst, x)
		return ok
	})
	if fast {
		return dst, nil
	}
	var days []rawDay
	if err := gojson.Unmarshal(txt, &days); err != nil {
		return dst[:start], err
	}
	return append(dst[:start], days...), nil
}

// sortedSet reports whether ids are sorted and distinct.
func sortedSet(ids []cdp.Identifier) bool {
	for i := 1; i < len(ids); i++ {
		if cmpIdentifier(ids[i-1], ids[i]) >= 0 {
			return false
		}
	}
	return true
}

// rawDay is one entry of the event_days column as written; eventDay the
// same, read.
type rawDay struct {
	Event string `json:"event"`
	Day   string `json:"day"`
	N     int32  `json:"n"`
}

type eventDay struct {
	event int // index in p.Events
	day   int32
	n     int32
}

// eventDays reads the event_days column into the per-day counts of
// p.Events: what adding the entries one by one (addDays) gives, in one
// allocation. Entries of events p does not count are left out; a bad day
// fails the profile.
func (d *baseDecoder) eventDays(p *Profile, txt []byte) error {
	raw, err := appendRawDays(d.rawDays[:0], txt)
	if err != nil {
		return fmt.Errorf("event_days: %w", err)
	}
	d.rawDays = raw
	d.days = d.days[:0]
	for _, x := range raw {
		at, err, ok := d.lastDay.get(x.Day)
		if !ok {
			var t time.Time
			if t, err = time.Parse(time.DateOnly, x.Day); err == nil {
				at = int64(dayOf(t.UnixNano()))
			}
			d.lastDay.put(x.Day, at, err)
		}
		if err != nil {
			return fmt.Errorf("event_days: day %q: %w", x.Day, err)
		}
		if i, ok := p.eventIndex(x.Event); ok {
			d.days = append(d.days, eventDay{event: i, day: int32(at), n: x.N})
		}
	}
	if len(d.days) == 0 {
		return nil
	}
	// Same days added up; per event, the days after its newest minus MaxDays.
	slices.SortStableFunc(d.days, func(a, b eventDay) int {
		if a.event != b.event {
			return a.event - b.event
		}
		return int(a.day - b.day)
	})
	out := d.days[:0]
	for _, x := range d.days {
		if k := len(out) - 1; k >= 0 && out[k].event == x.event && out[k].day == x.day {
			out[k].n += x.n
			continue
		}
		out = append(out, x)
	}
	kept := out[:0]
	for i := 0; i < len(out); {
		j := i
		for j < len(out) && out[j].event == out[i].event {
			j++
		}
		cut := out[j-1].day - MaxDays
		for _, x := range out[i:j] {
			if x.day > cut {
				kept = append(kept, x)
			}
		}
		i = j
	}
	all := make([]DayCount, len(kept))
	for i := 0; i < len(kept); {
		j := i
		for j < len(kept) && kept[j].event == kept[i].event {
			all[j] = DayCount{Day: kept[j].day, N: kept[j].n}
			j++
		}
		p.Events[kept[i].event].Days = all[i:j:j]
		i = j
	}
	return nil
}

// appendIdentifiers appends the identifiers of an identifiers column; the
// strings point into txt.
func appendIdentifiers(dst []cdp.Identifier, txt []byte) ([]cdp.Identifier, error) {
	start := len(dst)
	fast := cdp.ArrayElems(txt, func(v []byte) bool {
		var x cdp.Identifier
		ok := cdp.ObjectFields(v, func(k string, fv []byte) bool {
			switch k {
			case "type", "value":
				s, end, ok := cdp.PlainString(fv, 0)
				if !ok || end != len(fv) {
					return false
				}
				if k == "type" {
					x.Type = s
				} else {
					x.Value = s
				}
				return true
			}
			return !strings.EqualFold(k, "type") && !strings.EqualFold(k, "value") // goccy matches keys case-insensitively
		})
		dst = append(dst, x)
		return ok
	})
	if fast {
		return dst, nil
	}
	var ids []cdp.Identifier
	if err := gojson.Unmarshal(txt, &ids); err != nil {
		return dst[:start], err
	}
	return append(dst[:start], ids...), nil
}

// A base load decodes a few JSON columns per profile; the fast paths
// below read them in place (cdp.ObjectFields, as the preparer does) and leave
// anything unusual (escaped keys, repeated keys, non-integer counts) to
// goccy/go-json, which gives the same result (FuzzBaseJSON,
// FuzzBaseColumns, TestLoadBaseAsRowByRow).

// baseTraits reads the traits and provenance columns, sorted by name.
func baseTraits(traits, provenance string) ([]traitSpec, error) {
	var d baseDecoder
	return d.traits(traits, provenance)
}

// nameTime is a trait's time and Kafka position from the provenance column.
type nameTime struct {
	name string
	at   int64
	seq  int64
}

// baseProvenance is a trait's provenance as the general decoding reads it.
type baseProvenance struct {
	Time      string `json:"time"`
	Partition *int64 `json:"partition"`
	Offset    *int64 `json:"offset"`
}

// seq is the Kafka position the provenance gives, else baseSeq.
func (x baseProvenance) seq() int64 {
	if x.Partition == nil || x.Offset == nil {
		return baseSeq
	}
	return baseSeqAt(*x.Partition, *x.Offset)
}

// traits is baseTraits with the decoder's scratch and time cache: the
// result is valid until the next call.
func (d *baseDecoder) traits(traits, provenance string) ([]traitSpec, error) {
	parse := func(s string) int64 {
		at, err, ok := d.lastTime.get(s)
		if !ok {
			var t time.Time
			if t, err = time.Parse(time.RFC3339Nano, s); err == nil {
				at = t.UnixNano()
			}
			d.lastTime.put(s, at, err)
		}
		if err != nil {
			return 0
		}
		return at
	}
	times := d.times[:0]
	fast := cdp.ObjectFields(bytesOf(provenance), func(name string, v []byte) bool {
		times = append(times, nameTime{name: name})
		nt := &times[len(times)-1]
		partition, offset := int64(-1), int64(-1)
		ok := cdp.ObjectFields(v, func(k string, tv []byte) bool {
			switch k {
			case "time":
				s, end, ok := cdp.PlainString(tv, 0)
				if !ok || end != len(tv) {
					return false
				}
				nt.at = parse(s)
				return true
			case "partition", "offset":
				if len(tv) == 0 || tv[0] < '0' || tv[0] > '9' {
					return false
				}
				n, err := strconv.ParseInt(string(tv), 10, 64)
				if k == "partition" {
					partition = n
				} else {
					offset = n
				}
				return err == nil
			}
			// goccy matches keys case-insensitively
			return !strings.EqualFold(k, "time") && !strings.EqualFold(k, "partition") && !strings.EqualFold(k, "offset")
		})
		nt.seq = baseSeq
		if partition >= 0 && offset >= 0 {
			nt.seq = baseSeqAt(partition, offset)
		}
		return ok
	})
	slices.SortStableFunc(times, func(a, b nameTime) int { return strings.Compare(a.name, b.name) })
	for i := 1; fast && i < len(times); i++ {
		fast = times[i].name != times[i-1].name // goccy says which one wins
	}
	if !fast {
		times = times[:0]
		if provenance != "" {
			var prov map[string]baseProvenance
			if json.Valid(bytesOf(provenance)) { // goccy can panic on malformed JSON (decodeGeneral)
				_ = gojson.Unmarshal([]byte(provenance), &prov) // times are optional
			}
			for name, x := range prov {
				var at int64
				if t, err := time.Parse(time.RFC3339Nano, x.Time); err == nil {
					at = t.UnixNano()
				}
				times = append(times, nameTime{name, at, x.seq()})
			}
			slices.SortFunc(times, func(a, b nameTime) int { return strings.Compare(a.name, b.name) })
		}
	}
	d.times = times
	timeOf := func(name string) (int64, int64) {
		if i, ok := slices.BinarySearchFunc(times, name, func(t nameTime, n string) int { return strings.Compare(t.name, n) }); ok {
			return times[i].at, times[i].seq
		}
		return 0, baseSeq
	}
	specs := d.specs[:0]
	fast = cdp.ObjectFields(bytesOf(traits), func(name string, v []byte) bool {
		ts, seq := timeOf(name)
		specs = append(specs, traitSpec{name: name, value: rawString(v), ts: ts, seq: seq})
		return true
	})
	slices.SortFunc(specs, func(a, b traitSpec) int { return strings.Compare(a.name, b.name) })
	for i := 1; fast && i < len(specs); i++ {
		fast = specs[i].name != specs[i-1].name
	}
	if !fast {
		var m map[string]json.RawMessage
		if err := unmarshalChecked(traits, &m); err != nil {
			return nil, fmt.Errorf("traits: %w", err)
		}
		specs = specs[:0]
		for name, v := range m {
			ts, seq := timeOf(name)
			specs = append(specs, traitSpec{name: name, value: rawString(v), ts: ts, seq: seq})
		}
		slices.SortFunc(specs, func(a, b traitSpec) int { return strings.Compare(a.name, b.name) })
	}
	d.specs = specs
	return specs, nil
}

// baseCounts reads the event_counts column, sorted by name.
func baseCounts(txt string) ([]EventCount, error) { return appendCounts(nil, txt) }

// appendCounts appends the counts of an event_counts column, sorted by
// name, to dst[:0]; the names may point into txt.
func appendCounts(dst []EventCount, txt string) ([]EventCount, error) {
	counts := dst[:0]
	fast := cdp.ObjectFields(bytesOf(txt), func(name string, v []byte) bool {
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return false
		}
		counts = append(counts, EventCount{Name: name, Total: n}) // interned by addBase
		return true
	})
	slices.SortFunc(counts, func(a, b EventCount) int { return strings.Compare(a.Name, b.Name) })
	for i := 1; fast && i < len(counts); i++ {
		fast = counts[i].Name != counts[i-1].Name
	}
	if fast {
		return counts, nil
	}
	var m map[string]int64
	if err := unmarshalChecked(txt, &m); err != nil {
		return counts[:0], fmt.Errorf("event_counts: %w", err)
	}
	counts = counts[:0]
	for name, n := range m {
		counts = append(counts, EventCount{Name: name, Total: n})
	}
	slices.SortFunc(counts, func(a, b EventCount) int { return strings.Compare(a.Name, b.Name) })
	return counts, nil
}

// unmarshalChecked decodes txt with goccy/go-json once it is known to be
// valid JSON (goccy can panic on malformed input: decodeGeneral).
func unmarshalChecked(txt string, v any) error {
	if !json.Valid(bytesOf(txt)) {
		return errors.New("invalid JSON")
	}
	return gojson.Unmarshal([]byte(txt), v)
}

// bytesOf returns s as bytes without copying; they must not be changed.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// clusterIndex holds the identity map by cluster: the identifiers of
// (workspace, cdp id), read before the profiles and dropped after. Its
// entries are sorted by cluster key in shards, so a cluster's identifiers
// are side by side: one map probe and one run to read per profile.
type clusterIndex struct {
	shards []clusterShard
	types  []string
}

type clusterShard struct {
	ents []clusterEnt         // sorted by key
	runs map[idKey]clusterRun // where each key's entries are
}

type clusterRun struct{ start, n int32 }

// clusterEnt is one identifier of the identity map.
type clusterEnt struct {
	key idKey  // clusterKey of its workspace and cdp id
	id  idKey  // the identifier's index key
	val string // in a block of the loader's, not the store's
	typ uint16 // index in clusterIndex.types
}

func clusterKey(workspace, cdpID string) idKey {
	hi, lo := identity.IdentifierHash(workspace, "", cdpID)
	return idKey{hi, lo}
}

func cmpIDKey(a, b idKey) int {
	if c := cmp.Compare(a[0], b[0]); c != 0 {
		return c
	}
	return cmp.Compare(a[1], b[1])
}

// cluster returns the identity map's entries of a cluster.
func (c *clusterIndex) cluster(workspace, cdpID string) []clusterEnt {
	if c == nil || len(c.shards) == 0 {
		return nil
	}
	k := clusterKey(workspace, cdpID)
	sh := &c.shards[k[1]%uint64(len(c.shards))]
	r, ok := sh.runs[k]
	if !ok {
		return nil
	}
	return sh.ents[r.start : r.start+r.n]
}

// loadClusters reads the identity map files on every core, a row group
// per worker; then every shard gathers its entries from the workers', and
// is sorted and indexed on a core of its own.
func loadClusters(ctx context.Context, st lake.Storage, files []lake.File, workers int) (*clusterIndex, error) {
	if len(files) == 0 {
		return &clusterIndex{}, nil
	}
	pfs, closeAll, err := openParquets(ctx, st, files, idmapColumns)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	tasks := rowGroupTasks(pfs)
	var total int64
	for _, t := range tasks {
		total += t.rows
	}
	if total >= math.MaxInt32 {
		return nil, fmt.Errorf("identity map: %d rows is more than a base load takes (%d)", total, math.MaxInt32-1)
	}
	c := &clusterIndex{shards: make([]clusterShard, workers)}
	// The keys spread evenly: every shard's entries fit in its share and a
	// little more (past it, append grows the slice).
	shardMu := make([]sync.Mutex, workers)
	for i := range c.shards {
		c.shards[i].ents = make([]clusterEnt, 0, total/int64(workers)+total/int64(workers)/32+1024)
	}
	var typesMu sync.Mutex
	typeIndex := map[string]uint16{}
	var next atomic.Int64
	errs := make([]error, len(tasks))
	var wg sync.WaitGroup
	for range min(workers, len(tasks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := map[string]uint16{}
			var block []byte
			pending := make([][]clusterEnt, workers) // by shard, flushed 1,024 at a time
			flush := func(sh int) {
				shardMu[sh].Lock()
				c.shards[sh].ents = append(c.shards[sh].ents, pending[sh]...)
				shardMu[sh].Unlock()
				pending[sh] = pending[sh][:0]
			}
			defer func() {
				for sh := range pending {
					flush(sh)
				}
			}()
			vals := make([]parquet.Value, baseBatchRows*len(idmapColumns))
			for {
				i := int(next.Add(1) - 1)
				if i >= len(tasks) || ctx.Err() != nil {
					return
				}
				t := tasks[i]
				errs[i] = func() error {
					rd, err := newColumnReader(t)
					if err != nil {
						return err
					}
					defer rd.close()
					for done := int64(0); done < t.rows; {
						n := int(min(baseBatchRows, t.rows-done))
						if err := rd.read(vals[:n*4], n); err != nil {
							return fmt.Errorf("read %s: %w", t.file.key, err)
						}
						done += int64(n)
						for j := range n {
							r := row{vals: vals[j*4 : j*4+4]}
							ws, typ, val, id := r.bytes(0), r.bytes(1), r.bytes(2), r.bytes(3)
							if len(ws) == 0 || len(typ) == 0 || len(val) == 0 || len(id) == 0 {
								continue
							}
							ti, ok := local[string(typ)]
							if !ok {
								typesMu.Lock()
								if ti, ok = typeIndex[string(typ)]; !ok {
									if len(c.types) > math.MaxUint16 {
										typesMu.Unlock()
										return fmt.Errorf("%s: more than %d identifier types", t.file.key, math.MaxUint16)
									}
									ti = uint16(len(c.types))
									c.types = append(c.types, string(typ))
									typeIndex[string(typ)] = ti
								}
								typesMu.Unlock()
								local[string(typ)] = ti
							}
							if len(block)+len(val) > cap(block) {
								block = make([]byte, 0, max(256<<10, len(val)))
							}
							at := len(block)
							block = append(block, val...)
							k := clusterKey(rawString(ws), rawString(id))
							sh := int(k[1] % uint64(workers))
							v := unsafe.String(&block[at], len(val))
							pending[sh] = append(pending[sh], clusterEnt{key: k, id: idKeyOf(rawString(ws), rawString(typ), v), val: v, typ: ti})
							if len(pending[sh]) == 1024 {
								flush(sh)
							}
						}
					}
					return nil
				}()
				if errs[i] != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for s := range c.shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ents := c.shards[s].ents
			slices.SortFunc(ents, func(a, b clusterEnt) int { return cmpIDKey(a.key, b.key) })
			runs := make(map[idKey]clusterRun, len(ents)/3+1)
			for i := 0; i < len(ents); {
				j := i + 1
				for j < len(ents) && ents[j].key == ents[i].key {
					j++
				}
				runs[ents[i].key] = clusterRun{int32(i), int32(j - i)}
				i = j
			}
			c.shards[s].runs = runs
		}()
	}
	wg.Wait()
	return c, nil
}

// parquetFile is an open lake Parquet file and, per requested column, its
// leaf column (-1 when absent) and timestamp unit.
type parquetFile struct {
	key   string
	pf    *parquet.File
	cols  []int
	units []time.Duration
}

// openParquets opens files and finds the columns in each.
func openParquets(ctx context.Context, st lake.Storage, files []lake.File, cols []string) ([]*parquetFile, func(), error) {
	var closers []io.Closer
	closeAll := func() {
		for _, c := range closers {
			c.Close()
		}
	}
	var out []*parquetFile
	for _, f := range files {
		pf, closer, err := lake.OpenParquet(ctx, st, f.Path)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		closers = append(closers, closer)
		x := &parquetFile{key: f.Path, pf: pf, cols: make([]int, len(cols)), units: make([]time.Duration, len(cols))}
		for i, c := range cols {
			x.cols[i] = -1
			x.units[i] = time.Microsecond
			leaf, ok := pf.Schema().Lookup(c)
			if !ok {
				continue
			}
			if leaf.MaxRepetitionLevel > 0 {
				closeAll()
				return nil, nil, fmt.Errorf("%s: column %s is repeated; a base load reads one value per row", f.Path, c)
			}
			x.cols[i] = leaf.ColumnIndex
			if lt := leaf.Node.Type().LogicalType(); lt != nil {
				if ts, ok := lt.Value.(*format.TimestampType); ok && ts.Unit.Value != nil {
					x.units[i] = ts.Unit.Value.Duration()
				}
			}
		}
		out = append(out, x)
	}
	return out, closeAll, nil
}

// rowGroupTask is one row group of a file to read.
type rowGroupTask struct {
	file *parquetFile
	rg   parquet.RowGroup
	rows int64
	base int64           // rows of the tasks before it
	out  chan *baseBatch // profiles: the decoded batches, in order
}

func rowGroupTasks(files []*parquetFile) []*rowGroupTask {
	var ts []*rowGroupTask
	for _, f := range files {
		for _, rg := range f.pf.RowGroups() {
			if n := rg.NumRows(); n > 0 {
				ts = append(ts, &rowGroupTask{file: f, rg: rg, rows: n})
			}
		}
	}
	return ts
}

// columnReader reads the requested columns of one row group side by side,
// a page of each at a time. Values point into the pages, which are never
// released to parquet-go's pools: they stay valid while referenced.
type columnReader struct {
	cols  []*columnCursor // nil for a column the file lacks
	units []time.Duration
}

type columnCursor struct {
	pages parquet.Pages
	vr    parquet.ValueReader
	buf   []parquet.Value
	i, n  int
}

func newColumnReader(t *rowGroupTask) (*columnReader, error) {
	chunks := t.rg.ColumnChunks()
	r := &columnReader{cols: make([]*columnCursor, len(t.file.cols)), units: t.file.units}
	for i, c := range t.file.cols {
		if c < 0 {
			continue
		}
		if c >= len(chunks) {
			r.close()
			return nil, fmt.Errorf("%s: column %d of %d", t.file.key, c, len(chunks))
		}
		r.cols[i] = &columnCursor{pages: chunks[c].Pages(), buf: make([]parquet.Value, 256)}
	}
	return r, nil
}

// read fills vals with the next n rows, len(cols) values per row.
func (r *columnReader) read(vals []parquet.Value, n int) error {
	nc := len(r.cols)
	for c, cur := range r.cols {
		for i := range n {
			if cur == nil {
				vals[i*nc+c] = parquet.Value{}
				continue
			}
			v, err := cur.next()
			if err != nil {
				return err
			}
			vals[i*nc+c] = v
		}
	}
	return nil
}

func (c *columnCursor) next() (parquet.Value, error) {
	for c.i >= c.n {
		if c.vr == nil {
			p, err := c.pages.ReadPage()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return parquet.Value{}, fmt.Errorf("read column: %w", err)
			}
			c.vr = p.Values()
		}
		n, err := c.vr.ReadValues(c.buf)
		c.i, c.n = 0, n
		if errors.Is(err, io.EOF) || n == 0 && err == nil {
			c.vr = nil
		} else if err != nil {
			return parquet.Value{}, fmt.Errorf("read column: %w", err)
		}
	}
	v := c.buf[c.i]
	c.i++
	return v, nil
}

func (r *columnReader) close() {
	for _, c := range r.cols {
		if c != nil {
			c.pages.Close()
		}
	}
}

// row is one Parquet row, its values by requested column.
type row struct {
	vals  []parquet.Value
	units []time.Duration // of timestamp columns
}

// bytes returns a BYTE_ARRAY column's value in place (nil when null).
func (r *row) bytes(i int) []byte {
	if v := r.vals[i]; !v.IsNull() && v.Kind() == parquet.ByteArray {
		return v.ByteArray()
	}
	return nil
}

func (r *row) int(i int) int64 {
	v := r.vals[i]
	switch {
	case v.IsNull():
		return 0
	case v.Kind() == parquet.Int64:
		return v.Int64()
	case v.Kind() == parquet.Int32:
		return int64(v.Int32())
	case v.Kind() == parquet.Double:
		return int64(math.Round(v.Double()))
	}
	return 0
}

func (r *row) float(i int) float64 {
	v := r.vals[i]
	switch {
	case v.IsNull():
		return 0
	case v.Kind() == parquet.Double:
		return v.Double()
	case v.Kind() == parquet.Float:
		return float64(v.Float())
	case v.Kind() == parquet.Int64:
		return float64(v.Int64())
	case v.Kind() == parquet.Int32:
		return float64(v.Int32())
	}
	return 0
}

// time returns a TIMESTAMP column as Unix ns (0 when null).
func (r *row) time(i int) int64 {
	v := r.vals[i]
	if v.IsNull() || v.Kind() != parquet.Int64 {
		return 0
	}
	return v.Int64() * int64(r.units[i])
}
