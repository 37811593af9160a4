package speed

import (
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
	"time"
	"unsafe"

	gojson "github.com/goccy/go-json"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	cdp "github.com/tributary-cdp/tributary"
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

// baseSeq is the Kafka position of base state: lower than any event's, so
// a delta with the same timestamp wins over a base trait.
const baseSeq = -1

// LoadBase builds a store holding the build's profiles, its offsets at the
// watermark. cfg's OnChange is not called while loading.
func LoadBase(ctx context.Context, st lake.Storage, b *Build, cfg StoreConfig) (*Store, error) {
	cfg.OnChange = nil
	s, err := NewStore(cfg)
	if err != nil {
		return nil, err
	}
	// cluster identifiers from the identity map, by (workspace, cdp id)
	ids := map[string][]cdp.Identifier{}
	for _, f := range b.IdentityMap {
		err := scanParquet(ctx, st, f.Path, []string{"workspace", "id_type", "id_value", "cdp_id"}, func(r *row) error {
			ws, typ, val, id := r.str(0), r.str(1), r.str(2), r.str(3)
			if ws == "" || typ == "" || val == "" || id == "" {
				return nil
			}
			k := ws + "\x00" + id
			ids[k] = append(ids[k], cdp.Identifier{Type: typ, Value: val})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	cols := []string{"workspace", "cdp_id", "identifiers", "traits", "provenance", "events_total", "event_counts",
		"page_views", "screen_views", "first_seen", "last_seen", "revenue_total", "orders_total", "event_days", "updated_at"}
	// Rows are decoded on every core, in batches, and added in file order
	// (an identifier the build gave to two clusters stays with the first).
	workers := max(1, runtime.GOMAXPROCS(0))
	jobs := make(chan *baseBatch, workers)
	order := make(chan *baseBatch, 2*workers)
	for range workers {
		go func() {
			for bb := range jobs {
				bb.decode(ids)
			}
		}()
	}
	added := make(chan error, 1)
	go func() {
		var err error
		for bb := range order {
			<-bb.done
			if err == nil && bb.err != nil {
				err = bb.err
			}
			if err == nil {
				for _, p := range bb.out {
					s.addBase(p)
				}
			}
		}
		added <- err
	}()
	cur := newBaseBatch("")
	flush := func() {
		if len(cur.rows) > 0 {
			order <- cur
			jobs <- cur
		}
		cur = newBaseBatch(cur.file)
	}
	var scanErr error
	for _, f := range b.Profiles {
		cur.file = f.Path
		scanErr = scanParquet(ctx, st, f.Path, cols, func(r *row) error {
			cur.rows = append(cur.rows, r.clone())
			if len(cur.rows) == cap(cur.rows) {
				flush()
			}
			return nil
		})
		if scanErr != nil {
			break
		}
		flush()
	}
	close(jobs)
	close(order)
	if err := <-added; scanErr == nil && err != nil {
		scanErr = err
	}
	if scanErr != nil {
		return nil, scanErr
	}
	for p, off := range b.Watermark {
		s.offsets[int(p)] = off
	}
	s.ext.baseVersion = b.Version
	return s, nil
}

// baseBatch is a run of rows of one file, decoded by a worker.
type baseBatch struct {
	file string
	rows []*row
	out  []*Profile
	err  error
	done chan struct{}
}

func newBaseBatch(file string) *baseBatch {
	return &baseBatch{file: file, rows: make([]*row, 0, 512), done: make(chan struct{})}
}

func (bb *baseBatch) decode(clusters map[string][]cdp.Identifier) {
	defer close(bb.done)
	for _, r := range bb.rows {
		p, err := baseProfile(r, clusters)
		if err != nil {
			bb.err = fmt.Errorf("%s: profile %s: %w", bb.file, r.str(1), err)
			return
		}
		if p != nil {
			bb.out = append(bb.out, p)
		}
	}
	bb.rows = nil
}

// baseProfile decodes one curated row; safe for concurrent use (names are
// interned when the profile is added).
func baseProfile(r *row, clusters map[string][]cdp.Identifier) (*Profile, error) {
	ws, id := r.str(0), r.str(1)
	if ws == "" || id == "" {
		return nil, nil
	}
	p := &Profile{CDPID: id, Workspace: ws}
	var idents []cdp.Identifier
	if txt := r.str(2); txt != "" {
		if err := gojson.Unmarshal([]byte(txt), &idents); err != nil {
			return nil, fmt.Errorf("identifiers: %w", err)
		}
	}
	idents = append(idents, clusters[ws+"\x00"+id]...)
	for _, x := range idents {
		if x.Type != "" && x.Value != "" {
			p.addIdentifier(cdp.Identifier{Type: x.Type, Value: x.Value})
		}
	}
	if len(p.Identifiers) == 0 {
		return nil, nil
	}
	// Traits, last-writer-wins at the time their provenance gives.
	if txt := r.str(3); txt != "" && txt != "{}" {
		specs, err := baseTraits(txt, r.str(4))
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
	if txt := r.str(6); txt != "" && txt != "{}" {
		counts, err := baseCounts(txt)
		if err != nil {
			return nil, err
		}
		p.Events = counts
	}
	if txt := r.str(13); txt != "" && txt != "[]" {
		var days []struct {
			Event string `json:"event"`
			Day   string `json:"day"`
			N     int32  `json:"n"`
		}
		if err := gojson.Unmarshal([]byte(txt), &days); err != nil {
			return nil, fmt.Errorf("event_days: %w", err)
		}
		for _, d := range days {
			day, err := time.Parse(time.DateOnly, d.Day)
			if err != nil {
				return nil, fmt.Errorf("event_days: day %q: %w", d.Day, err)
			}
			c := p.eventCount(d.Event)
			if c == nil {
				continue
			}
			c.Days = addDays(c.Days, []DayCount{{Day: dayOf(day.UnixNano()), N: d.N}})
		}
	}
	return p, nil
}

// A base load decodes a few JSON columns per profile; the fast paths
// below read them in place (objectFields, as the preparer does) and leave
// anything unusual (escaped keys, repeated keys, non-integer counts) to
// goccy/go-json, which gives the same result (TestBaseJSONFastPaths).

// baseTraits reads the traits and provenance columns, sorted by name.
func baseTraits(traits, provenance string) ([]traitSpec, error) {
	times := map[string]int64{}
	fast := objectFields(bytesOf(provenance), func(name string, v []byte) bool {
		if _, dup := times[name]; dup {
			return false // goccy says which one wins
		}
		times[name] = 0
		return objectFields(v, func(k string, tv []byte) bool {
			if k != "time" {
				return !strings.EqualFold(k, "time") // goccy matches keys case-insensitively
			}
			s, end, ok := plainString(tv, 0)
			if !ok || end != len(tv) {
				return false
			}
			var at int64
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				at = t.UnixNano()
			}
			times[name] = at
			return true
		})
	})
	if !fast && provenance != "" {
		var prov map[string]struct {
			Time string `json:"time"`
		}
		if json.Valid(bytesOf(provenance)) { // goccy can panic on malformed JSON (decodeGeneral)
			_ = gojson.Unmarshal([]byte(provenance), &prov) // times are optional
		}
		clear(times)
		for name, x := range prov {
			if t, err := time.Parse(time.RFC3339Nano, x.Time); err == nil {
				times[name] = t.UnixNano()
			}
		}
	}
	var specs []traitSpec
	fast = objectFields(bytesOf(traits), func(name string, v []byte) bool {
		specs = append(specs, traitSpec{name: name, value: rawString(v), ts: times[name], seq: baseSeq})
		return true
	})
	slices.SortFunc(specs, func(a, b traitSpec) int { return strings.Compare(a.name, b.name) })
	for i := 1; fast && i < len(specs); i++ {
		fast = specs[i].name != specs[i-1].name
	}
	if fast {
		return specs, nil
	}
	var m map[string]json.RawMessage
	if err := unmarshalChecked(traits, &m); err != nil {
		return nil, fmt.Errorf("traits: %w", err)
	}
	specs = specs[:0]
	for name, v := range m {
		specs = append(specs, traitSpec{name: name, value: rawString(v), ts: times[name], seq: baseSeq})
	}
	slices.SortFunc(specs, func(a, b traitSpec) int { return strings.Compare(a.name, b.name) })
	return specs, nil
}

// baseCounts reads the event_counts column, sorted by name.
func baseCounts(txt string) ([]EventCount, error) {
	var counts []EventCount
	fast := objectFields(bytesOf(txt), func(name string, v []byte) bool {
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
		return nil, fmt.Errorf("event_counts: %w", err)
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

// addBase inserts a base profile and indexes its identifiers and its cdp
// id. An identifier already indexed (the build gave it to two clusters)
// stays with the first.
func (s *Store) addBase(p *Profile) {
	p.Workspace = s.intern(p.Workspace)
	for i := range p.Identifiers {
		p.Identifiers[i].Type = s.intern(p.Identifiers[i].Type)
	}
	for i := range p.Events {
		p.Events[i].Name = s.intern(p.Events[i].Name)
	}
	if k, ok := parseCDPID(p.CDPID); !ok || !slices.ContainsFunc(p.Identifiers, func(x cdp.Identifier) bool { return idKeyOf(p.Workspace, x.Type, x.Value) == k }) {
		// Not derived from one of its identifiers: look-ups by cdp id go
		// through an identifier of type cdp_id, which merges carry along.
		p.addIdentifier(cdp.Identifier{Type: IDCDP, Value: p.CDPID})
	}
	s.next++
	h := s.next
	s.insert(h, p)
	n := 0
	kept := p.Identifiers[:0]
	for _, x := range p.Identifiers {
		k := idKeyOf(p.Workspace, x.Type, x.Value)
		if _, taken := s.lookupID(k); taken {
			continue
		}
		s.setIndex(k, h)
		kept = append(kept, x)
		n++
	}
	p.Identifiers = slices.Clip(kept)
	s.stats.profiles.Add(1)
	s.stats.identifiers.Add(int64(n))
}

// clone copies r (the scanner reuses its buffers).
func (r *row) clone() *row {
	c := &row{vals: make([]parquet.Value, len(r.vals)), units: r.units}
	for i, v := range r.vals {
		c.vals[i] = v.Clone()
	}
	return c
}

// row is one Parquet row, its values by requested column.
type row struct {
	vals  []parquet.Value
	units []time.Duration // of timestamp columns
}

func (r *row) str(i int) string {
	if v := r.vals[i]; !v.IsNull() && v.Kind() == parquet.ByteArray {
		return string(v.ByteArray())
	}
	return ""
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

// scanParquet calls fn for every row of a lake Parquet file with the
// named columns (missing ones read as null).
func scanParquet(ctx context.Context, st lake.Storage, key string, cols []string, fn func(r *row) error) error {
	pf, closer, err := lake.OpenParquet(ctx, st, key)
	if err != nil {
		return err
	}
	defer closer.Close()
	idx := make([]int, len(cols)) // file column index per requested column, -1 when absent
	units := make([]time.Duration, len(cols))
	for i, c := range cols {
		idx[i] = -1
		units[i] = time.Microsecond
		if leaf, ok := pf.Schema().Lookup(c); ok {
			idx[i] = leaf.ColumnIndex
			if lt := leaf.Node.Type().LogicalType(); lt != nil {
				if ts, ok := lt.Value.(*format.TimestampType); ok && ts.Unit.Value != nil {
					units[i] = ts.Unit.Value.Duration()
				}
			}
		}
	}
	byCol := map[int]int{}
	for i, c := range idx {
		if c >= 0 {
			byCol[c] = i
		}
	}
	r := &row{vals: make([]parquet.Value, len(cols)), units: units}
	buf := make([]parquet.Row, 256)
	for _, rg := range pf.RowGroups() {
		rows := rg.Rows()
		for {
			n, err := rows.ReadRows(buf)
			for _, pr := range buf[:n] {
				clear(r.vals)
				for _, v := range pr {
					if i, ok := byCol[v.Column()]; ok {
						r.vals[i] = v
					}
				}
				if ferr := fn(r); ferr != nil {
					rows.Close()
					return ferr
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rows.Close()
				return fmt.Errorf("read %s: %w", key, err)
			}
			if ctx.Err() != nil {
				rows.Close()
				return ctx.Err()
			}
		}
		rows.Close()
	}
	return nil
}
