package speed

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/parquet-go/parquet-go"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/lake"
	"github.com/tributary-cdp/tributary/lake/local"
)

// baseRow is a curated/profiles row with every column the base loader
// reads, nullable where DuckDB writes nulls, in other physical types than
// the curate job's where the loader converts (int32, double, milliseconds),
// and a column it does not read.
type baseRow struct {
	Workspace    *string    `parquet:"workspace,optional"`
	CDPID        *string    `parquet:"cdp_id,optional"`
	Identifiers  *string    `parquet:"identifiers,optional"`
	Traits       *string    `parquet:"traits,optional"`
	Provenance   *string    `parquet:"provenance,optional"`
	EventsTotal  *int64     `parquet:"events_total,optional"`
	EventCounts  *string    `parquet:"event_counts,optional"`
	PageViews    int64      `parquet:"page_views"`
	ScreenViews  int32      `parquet:"screen_views"`
	FirstSeen    *time.Time `parquet:"first_seen,optional,timestamp(microsecond)"`
	LastSeen     *time.Time `parquet:"last_seen,optional,timestamp(millisecond)"`
	RevenueTotal *float64   `parquet:"revenue_total,optional"`
	OrdersTotal  float64    `parquet:"orders_total"`
	RFMScore     string     `parquet:"rfm_score"`
	EventDays    *string    `parquet:"event_days,optional"`
	UpdatedAt    *time.Time `parquet:"updated_at,optional,timestamp(microsecond)"`
}

func ptr[T any](v T) *T { return &v }

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func unixNano(t *time.Time) int64 {
	if t == nil {
		return 0
	}
	return t.UnixNano()
}

// refLoadBase is the base load as it was before it read columns in place
// on every core: each row decoded by goccy/go-json alone (the decoding the
// fast paths must agree with), identifiers added one at a time, profiles
// added in row order. LoadBase must build the same store.
func refLoadBase(t *testing.T, rows []baseRow, idmap []idmapRow, w map[int32]int64, version int64) (*Store, error) {
	t.Helper()
	s, err := NewStore(DefaultStoreConfig())
	if err != nil {
		t.Fatal(err)
	}
	clusters := map[string][]cdp.Identifier{}
	for _, r := range idmap {
		if r.Workspace == "" || r.IDType == "" || r.IDValue == "" || r.CDPID == "" {
			continue
		}
		k := r.Workspace + "\x00" + r.CDPID
		clusters[k] = append(clusters[k], cdp.Identifier{Type: r.IDType, Value: r.IDValue})
	}
	for _, r := range rows {
		p, err := refProfile(r, clusters)
		if err != nil {
			return nil, err
		}
		if p != nil {
			refAddBase(s, p)
		}
	}
	for p, off := range w {
		s.offsets[int(p)] = off
	}
	s.ext.baseVersion = version
	return s, nil
}

func refProfile(r baseRow, clusters map[string][]cdp.Identifier) (*Profile, error) {
	ws, id := str(r.Workspace), str(r.CDPID)
	if ws == "" || id == "" {
		return nil, nil
	}
	p := &Profile{CDPID: id, Workspace: ws}
	var idents []cdp.Identifier
	if txt := str(r.Identifiers); txt != "" {
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
	if txt := str(r.Traits); txt != "" && txt != "{}" {
		specs, err := baseTraitsGeneral(txt, str(r.Provenance))
		if err != nil {
			return nil, err
		}
		p.Traits = packTraits(specs)
	}
	if r.EventsTotal != nil {
		p.EventsTotal = *r.EventsTotal
	}
	p.PageViews = r.PageViews
	p.ScreenViews = int64(r.ScreenViews)
	p.FirstSeen = unixNano(r.FirstSeen)
	p.LastSeen = unixNano(r.LastSeen)
	if r.RevenueTotal != nil {
		p.RevenueMicros = micros(*r.RevenueTotal)
	}
	p.OrdersTotal = int64(math.Round(r.OrdersTotal))
	p.UpdatedAt = unixNano(r.UpdatedAt)
	if txt := str(r.EventCounts); txt != "" && txt != "{}" {
		counts, err := baseCountsGeneral(txt)
		if err != nil {
			return nil, err
		}
		p.Events = counts
	}
	if txt := str(r.EventDays); txt != "" && txt != "[]" {
		var days []rawDay
		if err := gojson.Unmarshal([]byte(txt), &days); err != nil {
			return nil, fmt.Errorf("event_days: %w", err)
		}
		for _, d := range days {
			day, err := time.Parse(time.DateOnly, d.Day)
			if err != nil {
				return nil, fmt.Errorf("event_days: day %q: %w", d.Day, err)
			}
			if c := p.eventCount(d.Event); c != nil {
				c.Days = addDays(c.Days, []DayCount{{Day: dayOf(day.UnixNano()), N: d.N}})
			}
		}
	}
	return p, nil
}

func refAddBase(s *Store, p *Profile) {
	p.Workspace = s.intern(p.Workspace)
	for i := range p.Identifiers {
		p.Identifiers[i].Type = s.intern(p.Identifiers[i].Type)
	}
	for i := range p.Events {
		p.Events[i].Name = s.intern(p.Events[i].Name)
	}
	if k, ok := parseCDPID(p.CDPID); !ok || !slices.ContainsFunc(p.Identifiers, func(x cdp.Identifier) bool { return idKeyOf(p.Workspace, x.Type, x.Value) == k }) {
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

// storeDump renders what a store holds: every profile in handle order (its
// checkpoint record), the index, offsets, base version and counters.
func storeDump(s *Store) string {
	var b strings.Builder
	var rec []byte
	s.Range(func(p *Profile) bool {
		rec = encodeProfile(rec[:0], p)
		fmt.Fprintf(&b, "%x\n", rec)
		return true
	})
	type entry struct {
		k idKey
		h uint32
	}
	var idx []entry
	for i := range s.index {
		s.index[i].t.each(func(k [2]uint64, h uint32) bool {
			idx = append(idx, entry{k, h})
			return true
		})
	}
	slices.SortFunc(idx, func(a, b entry) int { return cmpIDKey(a.k, b.k) })
	for _, e := range idx {
		fmt.Fprintf(&b, "%x %x %d\n", e.k[0], e.k[1], e.h)
	}
	fmt.Fprintf(&b, "next %d profiles %d identifiers %d offsets %v base %d\n", s.next, s.stats.profiles.Load(),
		s.stats.identifiers.Load(), s.offsets, s.ext.baseVersion)
	return b.String()
}

// putRows writes rows as Parquet files of at most perFile rows, in row
// groups of rowGroup rows.
func putRows[T any](t *testing.T, st lake.Storage, prefix string, rows []T, perFile, rowGroup int) []lake.File {
	t.Helper()
	var files []lake.File
	for i := 0; i < len(rows); i += perFile {
		part := rows[i:min(i+perFile, len(rows))]
		var buf bytes.Buffer
		w := parquet.NewGenericWriter[T](&buf, parquet.MaxRowsPerRowGroup(int64(rowGroup)))
		if _, err := w.Write(part); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("%s/part-%d.parquet", prefix, i)
		if err := st.Put(context.Background(), key, &buf); err != nil {
			t.Fatal(err)
		}
		files = append(files, lake.File{Path: key, Rows: int64(len(part))})
	}
	return files
}

// baseCase is a build: its profile rows and identity map.
type baseCase struct {
	rows  []baseRow
	idmap []idmapRow
}

// handWritten covers one case per rule of the loader.
func handWritten() baseCase {
	at := time.Date(2026, 11, 1, 10, 0, 0, 123456000, time.UTC)
	atMilli := at.Truncate(time.Millisecond)
	derived := NewCDPID("default", cdp.Identifier{Type: cdp.IDEmail, Value: "ann@example.com"})
	return baseCase{
		rows: []baseRow{
			{ // sorted column, the identity map the same: the common case
				Workspace: ptr("default"), CDPID: ptr(derived),
				Identifiers: ptr(`[{"type":"email","value":"ann@example.com"},{"type":"user_id","value":"u1"}]`),
				Traits:      ptr(`{"email":"ann@example.com","plan":"pro","age":31,"tags":["a","b"]}`),
				Provenance:  ptr(`{"email":{"source":"crm","record":"r1","time":"2026-11-01T10:00:00.5Z"},"plan":{"time":"2026-10-01T00:00:00Z","source":"events"},"age":{"time":"not a time"}}`),
				EventsTotal: ptr(int64(7)), EventCounts: ptr(`{"Order Completed":2,"Product Viewed":5}`),
				PageViews: 3, ScreenViews: 1, FirstSeen: &at, LastSeen: &atMilli, RevenueTotal: ptr(42.5), OrdersTotal: 2.4,
				EventDays: ptr(`[{"event":"Order Completed","day":"2026-10-27","n":1},{"event":"Product Viewed","day":"2026-10-27","n":2},` +
					`{"event":"Order Completed","day":"2026-10-27","n":1},{"event":"Product Viewed","day":"2025-01-01","n":3},{"event":"Unknown","day":"2026-10-01","n":9}]`),
				UpdatedAt: &at,
			},
			{ // unsorted column with a repeat, an identifier only the identity map has, a batch cdp id
				Workspace: ptr("default"), CDPID: ptr("cluster-2"),
				Identifiers: ptr(` [ {"value":"u2","type":"user_id"} , {"type":"anonymous_id","value":"a2"},{"type":"user_id","value":"u2"}] `),
				Traits:      ptr(`{"b":1,"a":{"x":[1,2]},"c":null}`), Provenance: ptr(`{"b":{"time":"2026-11-01T10:00:00Z"},"b":{"time":"2026-11-02T10:00:00Z"}}`),
				EventCounts: ptr(`{}`), EventDays: ptr(`[]`),
			},
			{ // escapes and other spellings: the general decoder's
				Workspace: ptr("default"), CDPID: ptr("cluster-3"),
				Identifiers: ptr(`[{"Type":"email","Value":"b\u0040example.com"},{"type":"user_id","value":"zoë"}]`),
				Traits:      ptr(`{"na\u006de":"Zoë","x":1,"x":2}`), Provenance: ptr(`{"name":{"TIME":"2026-11-01T10:00:00Z"}}`),
				EventCounts: ptr(`{"A":1,"B":2,"A":3}`), EventDays: ptr(`[{"EVENT":"B","Day":"2026-11-01","N":4}]`),
			},
			{ // an identifier the first profile has already: it stays there
				Workspace: ptr("default"), CDPID: ptr("cluster-4"),
				Identifiers: ptr(`[{"type":"email","value":"ann@example.com"},{"type":"user_id","value":"u4"}]`),
				EventCounts: ptr(`{"Tick":3}`),
				EventDays:   ptr(`[{"event":"Tick","day":"2024-01-01","n":1},{"event":"Tick","day":"2026-01-01","n":1},{"event":"Tick","day":"2024-12-01","n":1}]`),
			},
			{Workspace: ptr("default"), Identifiers: ptr(`[{"type":"user_id","value":"nobody"}]`)},                              // no cdp id
			{Workspace: nil, CDPID: ptr("cluster-6"), Identifiers: ptr(`[{"type":"user_id","value":"u6"}]`)},                    // no workspace
			{Workspace: ptr("default"), CDPID: ptr("cluster-7"), Identifiers: ptr(`[{"type":"","value":"x"}]`)},                 // no usable identifier
			{Workspace: ptr("other"), CDPID: ptr("cluster-2"), Identifiers: ptr(`[{"type":"user_id","value":"u2"}]`)},           // same id, other workspace
			{Workspace: ptr("default"), CDPID: ptr("cluster-9"), Identifiers: nil, Traits: ptr(`{"plan":"free"}`)},              // identifiers only in the map
			{Workspace: ptr("default"), CDPID: ptr("cluster-10"), Identifiers: ptr(`[{"type":"cdp_id","value":"cluster-10"}]`)}, // its own cdp_id identifier
		},
		idmap: []idmapRow{
			{"default", "email", "ann@example.com", derived},
			{"default", "user_id", "u1", derived},
			{"default", "user_id", "u2", "cluster-2"},
			{"default", "phone", "+4915112345678", "cluster-2"},
			{"default", "phone", "+4915112345678", "cluster-2"},
			{"default", "user_id", "u9", "cluster-9"},
			{"default", "email", "nine@example.com", "cluster-9"},
			{"default", "user_id", "u9", "cluster-4"}, // another cluster's too: the first profile with it keeps it
			{"other", "user_id", "u2x", "cluster-2"},
			{"default", "", "x", "cluster-2"},
			{"default", "user_id", "", "cluster-2"},
			{"", "user_id", "w", "cluster-2"},
		},
	}
}

// generated is n random profiles in the shape of the curate job's, with
// clusters sharing identifiers, identity map rows the column lacks, and now
// and then an escape.
func generated(n int, seed uint64) baseCase {
	rng := rand.New(rand.NewPCG(seed, 1))
	var c baseCase
	day := func() string {
		return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(700)).Format(time.DateOnly)
	}
	events := []string{"Order Completed", "Product Viewed", "Signed In", "Tick"}
	for i := range n {
		ws := "default"
		if rng.IntN(10) == 0 {
			ws = "w2"
		}
		var ids []cdp.Identifier
		for range 1 + rng.IntN(5) {
			typ := []string{cdp.IDEmail, cdp.IDUserID, cdp.IDAnonymousID, cdp.IDPhone}[rng.IntN(4)]
			v := fmt.Sprintf("%s-%d", typ, rng.IntN(n*3))
			if rng.IntN(50) == 0 {
				v += "é"
			}
			ids = append(ids, cdp.Identifier{Type: typ, Value: v})
		}
		id := fmt.Sprintf("cluster-%d", i)
		if rng.IntN(2) == 0 {
			id = NewCDPID(ws, ids[0])
		}
		for _, x := range ids {
			c.idmap = append(c.idmap, idmapRow{ws, x.Type, x.Value, id})
		}
		if rng.IntN(5) == 0 {
			ids = ids[:len(ids)-1] // the identity map has one more
		}
		if rng.IntN(3) != 0 {
			slices.SortFunc(ids, cmpIdentifier)
		}
		idj, _ := json.Marshal(ids)
		traits, prov := map[string]any{}, map[string]any{}
		for range rng.IntN(6) {
			k := fmt.Sprintf("t%d", rng.IntN(8))
			traits[k] = rng.IntN(1000)
			if rng.IntN(3) != 0 {
				prov[k] = map[string]string{"source": "crm", "time": time.Unix(int64(rng.IntN(1e9)), int64(rng.IntN(1e9))).UTC().Format(time.RFC3339Nano)}
			}
		}
		tj, _ := json.Marshal(traits)
		pj, _ := json.Marshal(prov)
		counts := map[string]int{}
		var days []rawDay
		for range rng.IntN(8) {
			e := events[rng.IntN(len(events))]
			counts[e]++
			days = append(days, rawDay{Event: e, Day: day(), N: int32(1 + rng.IntN(3))})
		}
		cj, _ := json.Marshal(counts)
		dj, _ := json.Marshal(days)
		at := time.Unix(int64(rng.IntN(2e9)), int64(rng.IntN(1000))*1000).UTC()
		r := baseRow{Workspace: ptr(ws), CDPID: ptr(id), Identifiers: ptr(string(idj)), Traits: ptr(string(tj)), Provenance: ptr(string(pj)),
			EventsTotal: ptr(int64(rng.IntN(100))), EventCounts: ptr(string(cj)), PageViews: int64(rng.IntN(9)), ScreenViews: int32(rng.IntN(3)),
			FirstSeen: &at, RevenueTotal: ptr(float64(rng.IntN(100000)) / 100), OrdersTotal: float64(rng.IntN(5)), EventDays: ptr(string(dj)), UpdatedAt: &at}
		if rng.IntN(20) == 0 {
			r.EventDays, r.Provenance, r.FirstSeen = nil, nil, nil
		}
		if rng.IntN(40) == 0 {
			r.Identifiers = ptr(strings.Replace(*r.Identifiers, `"type"`, `"t\u0079pe"`, 1))
		}
		c.rows = append(c.rows, r)
	}
	rng.Shuffle(len(c.idmap), func(i, j int) { c.idmap[i], c.idmap[j] = c.idmap[j], c.idmap[i] })
	return c
}

// TestLoadBaseAsRowByRow checks that the loader, reading columns in place on
// several workers, builds the store the row-by-row reference builds: same
// profiles in the same order, same index, same counters; small row groups
// and several files, so batches and workers interleave.
func TestLoadBaseAsRowByRow(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	w := map[int32]int64{0: 17, 3: 4}
	for name, bc := range map[string]baseCase{"hand-written": handWritten(), "generated": generated(3000, 7)} {
		t.Run(name, func(t *testing.T) {
			st, err := local.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			b := &Build{Version: 3, Watermark: w,
				Profiles:    putRows(t, st, "curated/profiles/workspace=default", bc.rows, 1100, 97),
				IdentityMap: putRows(t, st, "curated/identity_map/workspace=default", bc.idmap, 2500, 301)}
			got, err := LoadBase(context.Background(), st, b, DefaultStoreConfig())
			if err != nil {
				t.Fatal(err)
			}
			want, err := refLoadBase(t, bc.rows, bc.idmap, w, 3)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := storeDump(got), storeDump(want); g != w {
				gl, wl := strings.Split(g, "\n"), strings.Split(w, "\n")
				for i := range min(len(gl), len(wl)) {
					if gl[i] != wl[i] {
						t.Fatalf("stores differ first at line %d of %d:\n got %.300s\nwant %.300s", i, len(wl), gl[i], wl[i])
					}
				}
				t.Fatalf("stores differ: %d lines, want %d", len(gl), len(wl))
			}
			if got.stats.profiles.Load() == 0 {
				t.Fatal("no profiles")
			}
		})
	}
}

// TestLoadBaseFailsAsRowByRow: a row the reference rejects fails the load.
func TestLoadBaseFailsAsRowByRow(t *testing.T) {
	for name, r := range map[string]baseRow{
		"identifiers": {Identifiers: ptr(`[{"type":"email","value":1}]`)},
		"traits":      {Traits: ptr(`{"a":}`)},
		"counts":      {EventCounts: ptr(`{"a":"x"}`)},
		"days":        {EventCounts: ptr(`{"a":1}`), EventDays: ptr(`[{"event":"a","day":"2026-13-01","n":1}]`)},
		"day count":   {EventCounts: ptr(`{"a":1}`), EventDays: ptr(`[{"event":"a","day":"2026-12-01","n":1.5}]`)},
	} {
		t.Run(name, func(t *testing.T) {
			r.Workspace, r.CDPID = ptr("default"), ptr("c1")
			if r.Identifiers == nil {
				r.Identifiers = ptr(`[{"type":"user_id","value":"u1"}]`)
			}
			rows := append(generated(600, 3).rows, r)
			st, err := local.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			b := &Build{Version: 1, Profiles: putRows(t, st, "curated/profiles/workspace=default", rows, 1000, 100)}
			if _, err := refLoadBase(t, rows, nil, nil, 1); err == nil {
				t.Fatal("the reference loads it")
			}
			_, err = LoadBase(context.Background(), st, b, DefaultStoreConfig())
			if err == nil || !strings.Contains(err.Error(), "profile c1") {
				t.Fatalf("LoadBase: %v", err)
			}
		})
	}
}

// FuzzBaseColumns checks the fast paths of the identifiers and event_days
// columns against goccy/go-json, which they fall back to.
func FuzzBaseColumns(f *testing.F) {
	for _, s := range [][2]string{
		{`[{"type":"email","value":"a@b.co"},{"type":"user_id","value":"u1"}]`, `[{"event":"A","day":"2026-11-01","n":3}]`},
		{` [ { "value" : "v" , "type" : "t" , "x" : [1,{"y":null}] } ] `, `[{"event":"A","day":"2026-11-01","n":-0,"z":true}]`},
		{`[{"type":"a","type":"b","value":"c"}]`, `[{"n":1,"n":2147483648}]`},
		{`[{"TYPE":"a","value":"b\u0063"}]`, `[{"Event":"A","day":"x","n":1e2}]`},
		{`[]`, `[null]`},
		{`[{"type":null,"value":"x"}]`, `[{"event":"\u00e9","day":"2026-11-01","n":01}]`},
		{`{}`, `[1]`},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, ids, days string) {
		if json.Valid([]byte(ids)) { // goccy can panic on malformed JSON
			got, gerr := appendIdentifiers(nil, []byte(ids))
			var want []cdp.Identifier
			werr := gojson.Unmarshal([]byte(ids), &want)
			if (gerr != nil) != (werr != nil) || gerr == nil && fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("identifiers %q:\n got %v %v\nwant %v %v", ids, got, gerr, want, werr)
			}
		}
		if json.Valid([]byte(days)) {
			got, gerr := appendRawDays(nil, []byte(days))
			var want []rawDay
			werr := gojson.Unmarshal([]byte(days), &want)
			if (gerr != nil) != (werr != nil) || gerr == nil && fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("event_days %q:\n got %v %v\nwant %v %v", days, got, gerr, want, werr)
			}
		}
	})
}

// FuzzBaseOrders: an orders column either fails or gives orders sorted
// by id, each once, that a checkpoint record keeps as they are.
func FuzzBaseOrders(f *testing.F) {
	for _, s := range []string{
		`[{"order_id":"o1","at":1,"kafka_partition":0,"kafka_offset":3,"amount":25000000,"total":27500000,"refund_total":1,"refund_total_amount":1,"refund_other":0,"refund_full":false}]`,
		`[{"order_id":"b","at":null,"refund_other":-3,"refund_full":true},{"order_id":"a","at":2,"amount":1},{"order_id":"a","at":1,"amount":2}]`,
		`[{"order_id":""}]`, `[]`, `{}`, `[{"ORDER_ID":"x","At":5}]`, `[{"order_id":1}]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, txt string) {
		b, err := baseOrders([]byte(txt))
		if err != nil || b == nil {
			return
		}
		for i := range b {
			if i > 0 && b[i-1].id >= b[i].id {
				t.Fatalf("%q: orders %q then %q", txt, b[i-1].id, b[i].id)
			}
		}
		p := &Profile{CDPID: "c", Workspace: "w", Extra: &ProfileExtra{more: &extraMore{orders: b}}}
		q, err := decodeProfile(encodeProfile(nil, p), checkpointVersion, nil)
		if err != nil || !reflect.DeepEqual(q.orders(), b) {
			t.Fatalf("%q: %+v, as a record %+v %v", txt, b, q.orders(), err)
		}
	})
}
