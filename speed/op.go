package speed

import (
	"bytes"
	"encoding/json"
	"errors"
	"hash/maphash"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unique"
	"unsafe"

	gojson "github.com/goccy/go-json"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/identity"
	"github.com/tributary-cdp/tributary/internal/jsonx"
)

// Op is one Kafka message made ready to apply: decoded, identifiers
// normalized and filtered, traits split. Preparing is stateless, so the
// consumer prepares in parallel and applies in partition order.
type Op struct {
	Partition int
	Offset    int64
	Event     *cdp.Event
	// IDs are the normalized, non-blocked identifiers the event links.
	IDs    []cdp.Identifier
	Traits []Trait
	// Revenue (millionths) and Orders of Segment e-commerce events read
	// alone, those without an order_id; an order_id's go to Order, which
	// its profile reads with what it remembers of that order (orders.go).
	Revenue int64
	Orders  int64
	Order   OrderEvent
	Page    string // page/screen: what LastPage records
	// Blocked counts identifiers dropped by the blocklist, by type.
	Blocked []string
	// Err is set for a poison message; it is skipped and copied to cdp.events.rejected.
	Err error

	alloc *opAlloc // what Release recycles

	// Hashes computed here, in parallel, so the apply goroutine only looks up.
	links  []link
	msgKey msgKey
	// recent is the event's record for the recent-events list, written
	// here while the message is in cache: applying copies it in one move.
	recent []byte
	// kept is set when a store kept a string of own's buffer (a new
	// identifier, a last page): Release must not hand the buffer out again.
	kept bool
}

// partitionBits is how many low bits of a Kafka position (Op.seq) hold
// the partition: the speed layer reads a topic of up to maxPartitions
// partitions, and refuses to start on a larger one (Consumer.partitions).
const (
	partitionBits = 10
	maxPartitions = 1 << partitionBits
)

// seq is o's Kafka position, the tie-break of equal event times: by
// offset, then partition. Offsets of two partitions are unrelated, but the
// order is total and does not depend on arrival.
func (o *Op) seq() int64 { return position(o.Partition, o.Offset) }

// position packs a Kafka position as Op.seq does.
func position(partition int, offset int64) int64 {
	return offset<<partitionBits | int64(partition)
}

// splitSeq returns the partition and offset of a Kafka position (Op.seq).
func splitSeq(seq int64) (partition int, offset int64) {
	return int(seq & (maxPartitions - 1)), seq >> partitionBits
}

type opAlloc struct {
	op    Op
	ev    cdp.Event
	ids   [4]cdp.Identifier
	links [4]link
	rec   []byte // recent's room, kept when the alloc is reused
	own   []byte // own's room, reused while no store kept a string of it (Op.kept)
}

// wireEvent is the part of cdp.Event the speed layer reads.
type wireEvent struct {
	Workspace   string        `json:"workspace"`
	MessageID   string        `json:"messageId"`
	Type        cdp.EventType `json:"type"`
	Event       string        `json:"event"`
	Name        string        `json:"name"`
	UserID      string        `json:"userId"`
	AnonymousID string        `json:"anonymousId"`
	PreviousID  string        `json:"previousId"`
	GroupID     string        `json:"groupId"`
	Timestamp   time.Time     `json:"timestamp"`
	ReceivedAt  time.Time     `json:"receivedAt"`
	Properties  rawJSON       `json:"properties"`
	Traits      rawJSON       `json:"traits"`
}

// rawJSON keeps the bytes the decoder hands to UnmarshalJSON. goccy/go-json
// hands over a fresh copy (json.RawMessage would copy it once more), and
// the canonical decoder a slice of the message, which does not change
// either: rawString may alias them.
type rawJSON []byte

func (r *rawJSON) UnmarshalJSON(b []byte) error {
	*r = b
	return nil
}

// rawString returns b as a string without copying; b must never change.
func rawString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// Preparer turns Kafka values into ops. It is safe for concurrent use.
type Preparer struct {
	block  *identity.Blocklist
	region identity.Regions  // of phone numbers without a country code, per workspace
	traits map[string]string // trait name → identifier type
	// general turns the fast decoders off: tests compare them against it.
	general bool
	// ops recycles released ops: a fresh one per message was the largest
	// allocation of the speed layer, and its garbage collection cost more
	// than decoding.
	ops   sync.Pool
	names names
}

// names caches the handles of the names events repeat (workspaces, track
// events): a hit costs a hash and a compare, unique.Make about 60 ns. A
// slot keeps the first name that lands in it and the names that collide
// with it take unique.Make, so a stream of distinct names neither evicts
// the common ones nor allocates.
type names struct {
	seed  maphash.Seed
	slots [256]atomic.Pointer[unique.Handle[string]]
}

func (n *names) handle(s string) unique.Handle[string] {
	slot := &n.slots[maphash.String(n.seed, s)%uint64(len(n.slots))]
	if h := slot.Load(); h != nil && h.Value() == s {
		return *h
	}
	h := unique.Make(s)
	if slot.Load() == nil {
		kept := new(unique.Handle[string])
		*kept = h
		slot.CompareAndSwap(nil, kept)
	}
	return h
}

// NewPreparer builds a preparer from the store config's hygiene settings.
func NewPreparer(cfg StoreConfig) *Preparer {
	return &Preparer{
		block:  identity.Junk(cfg.Blocklist, cfg.Allow),
		region: cfg.PhoneRegions,
		traits: cfg.IdentifierTraits,
		names:  names{seed: maphash.MakeSeed()},
	}
}

// errNoWorkspace marks an event without a workspace.
var errNoWorkspace = errors.New("workspace: is required")

// Prepare decodes one cdp.events value. A value that cannot be decoded
// yields an op with Err set. The op may point into value until it is
// applied, so value must not change.
func (p *Preparer) Prepare(partition int, offset int64, value []byte) *Op {
	a, _ := p.ops.Get().(*opAlloc) // the op, its event and small slices in one allocation
	if a == nil {
		a = &opAlloc{}
	}
	// Reset here, not in Release: the apply goroutine is the busiest. Only
	// the op: the event is overwritten below, and ids and links are
	// appended to (what is past their length pins an old op's strings
	// until overwritten). Zeroing the whole of it cost a write barrier
	// per pointer while the GC marks.
	o := &a.op
	*o = Op{Partition: partition, Offset: offset, IDs: a.ids[:0], alloc: a}
	// The collector's canonical form is decoded without allocating; the
	// general decoder (goccy/go-json, twice as fast as encoding/json)
	// takes the rest. Either way the strings point into the message:
	// own copies what the store keeps. The wire struct leaves out what the
	// speed layer does not use (context, …).
	var w wireEvent
	var err error
	if p.general || !decodeCanonical(value, &w) {
		err = decodeGeneral(value, &w)
	}
	e := &a.ev
	*e = cdp.Event{Workspace: w.Workspace, MessageID: w.MessageID, Type: w.Type, Event: w.Event, Name: w.Name,
		UserID: w.UserID, AnonymousID: w.AnonymousID, PreviousID: w.PreviousID, GroupID: w.GroupID,
		Timestamp: w.Timestamp, ReceivedAt: w.ReceivedAt, Properties: json.RawMessage(w.Properties), Traits: json.RawMessage(w.Traits)}
	if err == nil {
		err = e.Validate()
	}
	if err == nil && e.Workspace == "" {
		err = errNoWorkspace
	}
	if err != nil {
		o.Err = err
		return o
	}
	o.Event = e
	// Names the store interns, made canonical here, in parallel: the apply
	// goroutine then hashes shared, cached bytes, not a cold message.
	e.Workspace = p.names.handle(e.Workspace).Value()
	e.Type = canonicalType(e.Type)
	if e.Type == cdp.Track {
		e.Event = p.names.handle(e.Event).Value()
	}
	// Times count to the microsecond, as the lake stores them (Parquet
	// timestamp(microsecond)), so both layers order and report the same.
	ts := time.UnixMicro(e.Timestamp.UnixMicro())
	// 0 ns is a profile's "never seen" (Profile.seen): an event at the
	// Unix epoch, a client's unset clock, counts as received, else its
	// profile's first_seen would depend on arrival order.
	if e.Timestamp.IsZero() || ts.UnixNano() == 0 {
		ts = time.UnixMicro(e.ReceivedAt.UnixMicro())
	}
	e.Timestamp = ts.UTC()
	p.addID(o, cdp.IDUserID, e.UserID)
	p.addID(o, cdp.IDAnonymousID, e.AnonymousID)

	r := RecentEvent{Type: e.Type, MessageID: e.MessageID, TS: e.Timestamp.UnixNano(), Seq: o.seq()}
	var traits []traitSpec
	// What the record keeps: a group's traits, which no profile field holds;
	// not an identify's, which the profile's traits hold (as much again per
	// profile, for a store filled by identify calls).
	props := e.Properties
	switch e.Type {
	case cdp.Identify:
		var buf [16]traitSpec
		if traits, err = p.traitsOf(o, e.Traits, buf[:0]); err != nil {
			o.Err = err
			return o
		}
		props = nil
	case cdp.Group:
		r.GroupID, props = e.GroupID, e.Traits
	case cdp.Alias:
		r.PreviousID = e.PreviousID
		// previousId was a user id or an anonymous id: it links as both, as
		// in the resolve job. Typed by which of the two the store knew when
		// the alias came, the profiles would depend on arrival order.
		p.addID(o, cdp.IDUserID, e.PreviousID)
		p.addID(o, cdp.IDAnonymousID, e.PreviousID)
	case cdp.Track:
		commerce(o, e.Event, e.Properties, p.general)
		r.Name = e.Event
	case cdp.Page, cdp.Screen:
		o.Page, r.Name = e.Name, e.Name
		if e.Type == cdp.Page && len(e.Properties) > 0 {
			url, path := pageURL(e.Properties, p.general)
			switch {
			case url != "":
				o.Page = url
			case path != "" && o.Page == "":
				o.Page = path
			}
		}
	}
	switch n := len(props); {
	case n > maxRecentProps:
		r.Truncated = true
	case n > 0 && !bytes.Equal(props, []byte("null")):
		r.Properties = rawString(props)
	}
	o.recent = appendRecord(a.rec[:0], &r)
	a.rec = o.recent
	o.own(traits)
	o.msgKey = keyOf(e.Workspace, e.MessageID)
	o.links = a.links[:0]
	for _, id := range o.IDs {
		o.links = append(o.links, link{id, idKeyOf(e.Workspace, id.Type, id.Value)})
	}
	return o
}

// Release hands o back for reuse once it is applied, when nothing keeps
// it: what the store keeps of an op is copied (Op.own, packTraits,
// recentList.add).
func (p *Preparer) Release(o *Op) {
	if a := o.alloc; a != nil {
		if o.kept {
			a.own = nil
		}
		p.ops.Put(a)
	}
}

// decodeGeneral decodes any event JSON with goccy/go-json. goccy panics
// on some malformed input (FuzzDecodeCanonical found `{"":"","tim\`), and
// a poison message must not stop the consumer, so the input is checked
// first (the canonical decoder checks as it decodes).
func decodeGeneral(value []byte, w *wireEvent) error {
	if err := jsonx.Check(value); err != nil {
		return err // says where and what
	}
	g := new(wireEvent) // apart: the caller's w stays on its stack
	err := gojson.Unmarshal(value, g)
	*w = *g
	return err
}

// own copies the strings the store may keep (identifiers, last page) out
// of the message into one buffer: kept, they pin about their own bytes,
// not whole messages. Most events bring nothing new, so the buffer of an
// op whose strings no store kept is reused (Op.kept). Traits get their
// own (packTraits), recent events their record (Op.recent).
func (o *Op) own(traits []traitSpec) {
	n := len(o.Page)
	for _, id := range o.IDs {
		n += len(id.Value)
	}
	buf := o.alloc.own[:0]
	if cap(buf) < n {
		buf = make([]byte, 0, n) // sized up front: strings into it stay valid
		o.alloc.own = buf
	}
	keep := func(s string) string {
		at := len(buf)
		buf = append(buf, s...)
		return rawString(buf[at:len(buf):len(buf)])
	}
	o.Page = keep(o.Page)
	for i := range o.IDs {
		o.IDs[i].Value = keep(o.IDs[i].Value)
	}
	if len(traits) > 0 {
		o.Traits = packTraits(traits)
	}
}

func (p *Preparer) addID(o *Op, typ, raw string) {
	if raw == "" {
		return
	}
	v := p.region.Normalize(o.Event.Workspace, typ, raw)
	if v == "" || p.block.Blocked(typ, v) {
		o.Blocked = append(o.Blocked, typ)
		return
	}
	id := cdp.Identifier{Type: typ, Value: v}
	if !slices.Contains(o.IDs, id) {
		o.IDs = append(o.IDs, id)
	}
}

// traitsOf splits identify traits into LWW traits (appended to specs,
// sorted by name) and identifiers.
func (p *Preparer) traitsOf(o *Op, raw json.RawMessage, specs []traitSpec) ([]traitSpec, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	ts, seq := o.Event.Timestamp.UnixNano(), o.seq()
	fast := !p.general && cdp.ObjectFields(raw, func(k string, v []byte) bool {
		specs = append(specs, traitSpec{name: k, value: rawString(v), ts: ts, seq: seq})
		return true
	})
	slices.SortFunc(specs, func(a, b traitSpec) int { return strings.Compare(a.name, b.name) })
	for i := 1; fast && i < len(specs); i++ {
		fast = specs[i].name != specs[i-1].name // a repeated key: the general decoder says which wins
	}
	if !fast {
		var m map[string]rawJSON
		if err := gojson.Unmarshal(raw, &m); err != nil {
			return nil, cdp.Invalid(cdp.CodeInvalidTraits, "traits", "", "must be a JSON object")
		}
		specs = specs[:0]
		for k, v := range m {
			if strings.IndexByte(k, 0) >= 0 {
				continue // none, as in json_members: DuckDB would get the name cut at U+0000
			}
			specs = append(specs, traitSpec{name: k, value: rawString(v), ts: ts, seq: seq})
		}
		slices.SortFunc(specs, func(a, b traitSpec) int { return strings.Compare(a.name, b.name) })
	}
	for _, t := range specs {
		if typ, ok := p.traits[t.name]; ok {
			if s, ok := scalarString(json.RawMessage(t.value)); ok {
				p.addID(o, typ, s)
			}
		}
	}
	return specs, nil
}

// pageURL reads properties.url and properties.path of a page call.
func pageURL(props []byte, general bool) (url, path string) {
	objectMembers(props, general, func(k string, v []byte) {
		switch k {
		case "url":
			url = pageString(v)
		case "path":
			path = pageString(v)
		}
	})
	return url, path
}

// pageString reads a page's url or path: a JSON string, else none.
func pageString(v []byte) string {
	if s, end, ok := cdp.PlainString(v, 0); ok && end == len(v) {
		return s
	}
	var s string
	if len(v) == 0 || v[0] != '"' || gojson.Unmarshal(v, &s) != nil {
		return ""
	}
	return s
}

// objectMembers calls fn with the members of the JSON object raw and
// reports whether raw is one. Keys match exactly, after unescaping, and a
// repeated key's last value counts, as for identify traits and in the
// batch layer (json_repeated): fn keeps the last value it is given for a
// key. Plain keys are read in place, in order; the rest (escaped keys)
// are decoded into a map, after fn has seen some members perhaps.
func objectMembers(raw []byte, general bool, fn func(k string, v []byte)) bool {
	if !general && cdp.ObjectFields(raw, func(k string, v []byte) bool {
		fn(k, v)
		return true
	}) {
		return true
	}
	if i := jsonx.Space(raw, 0); i == len(raw) || raw[i] != '{' {
		return false // no object: spare the decoder's error
	}
	var m map[string]rawJSON
	if gojson.Unmarshal(raw, &m) != nil {
		return false
	}
	for k, v := range m {
		fn(k, v)
	}
	return true
}

// scalarString reads a JSON string or number as text. Without escapes
// the text aliases v, which must not change: what an op keeps of it is
// copied (Op.own).
func scalarString(v json.RawMessage) (string, bool) {
	if len(v) == 0 {
		return "", false
	}
	if v[0] == '"' {
		if len(v) >= 2 && v[len(v)-1] == '"' && !bytes.ContainsAny(v[1:len(v)-1], "\\\"") {
			return rawString(v[1 : len(v)-1]), true
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			return "", false
		}
		return s, true
	}
	if v[0] == '-' || v[0] >= '0' && v[0] <= '9' {
		return rawString(v), true
	}
	return "", false
}

// Segment e-commerce spec events that move revenue and order totals.
const (
	EventOrderCompleted = "Order Completed"
	EventOrderRefunded  = "Order Refunded"
)

// orderProps are the properties commerce reads.
type orderProps struct {
	OrderID, Revenue, Total, Value, Products []byte
}

// commerce reads "Order Completed" and "Order Refunded". The amount:
// properties.revenue, else total, else value, else the sum of
// products[].price × quantity; unreadable amounts count as 0. An event
// without an order_id adds it (a refund subtracts it); one with an
// order_id goes to its order's memory (Op.Order).
func commerce(o *Op, name string, props json.RawMessage, general bool) {
	var e OrderEvent
	switch name {
	case EventOrderCompleted:
	case EventOrderRefunded:
		e.Refund = true
	default:
		return
	}
	if len(props) > 0 {
		readOrder(&e, props, general)
	}
	if e.ID != "" {
		o.Order = e
		return
	}
	if e.Refund {
		o.Revenue = -e.Amount
	} else {
		o.Orders, o.Revenue = 1, e.Amount
	}
}

// readOrder reads an order event's properties into e.
func readOrder(e *OrderEvent, props json.RawMessage, general bool) {
	var p orderProps
	objectMembers(props, general, func(k string, v []byte) {
		switch k {
		case "order_id":
			p.OrderID = v
		case "revenue":
			p.Revenue = v
		case "total":
			p.Total = v
		case "value":
			p.Value = v
		case "products":
			p.Products = v
		}
	})
	e.ID, _ = scalarString(p.OrderID)
	if f, ok := number(p.Total); ok {
		e.Total, e.HasTotal = micros(f), true
	}
	for _, raw := range [...][]byte{p.Revenue, p.Total, p.Value} {
		if f, ok := number(raw); ok {
			e.Amount, e.HasAmount = micros(f), true
			return
		}
	}
	sum, ok := productsAmount(p.Products, general)
	e.Amount, e.HasAmount = micros(sum), ok
}

// productsAmount sums products[].price × quantity (quantity 1 when it is
// none) as the batch layer reads products: a list, else none; its entries
// that are no object have no price. ok when an entry has a price.
func productsAmount(raw []byte, general bool) (sum float64, ok bool) {
	if len(raw) == 0 {
		return 0, false
	}
	add := func(it []byte) bool {
		var price, quantity []byte
		objectMembers(it, general, func(k string, v []byte) {
			switch k {
			case "price":
				price = v
			case "quantity":
				quantity = v
			}
		})
		if f, has := number(price); has {
			q, has := number(quantity)
			if !has {
				q = 1
			}
			sum, ok = sum+f*q, true
		}
		return true
	}
	if !general && cdp.ArrayElems(raw, add) {
		return sum, ok
	}
	// Not a list, or one the fast reader stopped in (nested too deep):
	// the decoder reads it from the start.
	sum, ok = 0, false
	var items []rawJSON
	if gojson.Unmarshal(raw, &items) != nil {
		return 0, false
	}
	for _, it := range items {
		add(it)
	}
	return sum, ok
}

func micros(f float64) int64 {
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 9e12 {
		return 0
	}
	return int64(math.Round(f * 1e6))
}

// number reads a JSON number or a numeric string ("12.50").
func number(raw json.RawMessage) (float64, bool) {
	s, ok := scalarString(raw)
	if !ok {
		return 0, false
	}
	return cdp.ParseAmount(s)
}
