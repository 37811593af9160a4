package speed

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	gojson "github.com/goccy/go-json"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/identity"
)

// Op is one Kafka message made ready to apply: decoded, identifiers
// normalized and filtered, traits split. Preparing is stateless, so the
// consumer prepares in parallel and applies in partition order.
type Op struct {
	Partition int
	Offset    int64
	Event     *cdp.Event
	// IDs are the normalized, non-blocked identifiers the event links.
	IDs []cdp.Identifier
	// AliasPrev is the previousId of an alias call; its type (user_id or
	// anonymous_id) is resolved against the store when applied.
	AliasPrev string
	Traits    []Trait
	// Revenue (millionths) and Orders of Segment e-commerce events.
	Revenue int64
	Orders  int64
	Page    string // page/screen: what LastPage records
	Props   string // raw properties for the recent-events list
	// Blocked counts identifiers dropped by the blocklist, by type.
	Blocked []string
	// Err is set for a poison message; it is skipped and copied to cdp.events.rejected.
	Err error

	// Hashes computed here, in parallel, so the apply goroutine only looks up.
	links     []link
	msgKey    msgKey
	aliasKeys [2]idKey // AliasPrev as user_id, as anonymous_id
}

func (o *Op) seq() int64 { return o.Offset<<10 | int64(o.Partition&1023) }

type opAlloc struct {
	op    Op
	ev    cdp.Event
	ids   [4]cdp.Identifier
	links [4]link
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
// hands over a fresh copy (json.RawMessage would copy it once more), so
// the bytes are owned and never change: rawString may alias them.
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
	traits map[string]string // trait name → identifier type
}

// NewPreparer builds a preparer from the store config's hygiene settings.
func NewPreparer(cfg StoreConfig) *Preparer {
	return &Preparer{
		block:  identity.NewBlocklist(append(slices.Clone(identity.DefaultJunk), cfg.Blocklist...)),
		traits: cfg.IdentifierTraits,
	}
}

// errNoWorkspace marks an event without a workspace.
var errNoWorkspace = errors.New("workspace: is required")

// Prepare decodes one cdp.events value. A value that cannot be decoded
// yields an op with Err set.
func (p *Preparer) Prepare(partition int, offset int64, value []byte) *Op {
	a := &opAlloc{} // one allocation for the op, its event and small slices
	o := &a.op
	o.Partition, o.Offset, o.IDs = partition, offset, a.ids[:0]
	// goccy/go-json decodes about twice as fast as encoding/json; its
	// strings point into a copy of value, so whatever the store keeps is
	// cloned (strings.Clone) to not pin whole messages in memory. The wire
	// struct leaves out what the speed layer does not use (context, …).
	var w wireEvent
	err := gojson.Unmarshal(value, &w)
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
	ts := e.Timestamp
	if ts.IsZero() {
		ts = e.ReceivedAt
	}
	e.Timestamp = ts.UTC()
	p.addID(o, cdp.IDUserID, e.UserID)
	p.addID(o, cdp.IDAnonymousID, e.AnonymousID)

	switch e.Type {
	case cdp.Identify:
		if err := p.traitsOf(o, e.Traits); err != nil {
			o.Err = err
			return o
		}
	case cdp.Alias:
		prev := strings.TrimSpace(e.PreviousID)
		if p.block.Blocked(cdp.IDAnonymousID, prev) {
			o.Blocked = append(o.Blocked, cdp.IDAnonymousID)
		} else {
			o.AliasPrev = strings.Clone(prev)
		}
	case cdp.Track:
		commerce(o, e.Event, e.Properties)
	case cdp.Page, cdp.Screen:
		o.Page = strings.Clone(e.Name)
		if e.Type == cdp.Page {
			var pp struct {
				URL  string `json:"url"`
				Path string `json:"path"`
			}
			if len(e.Properties) > 0 && gojson.Unmarshal(e.Properties, &pp) == nil {
				switch { // goccy's strings alias its buffer: clone what is kept
				case pp.URL != "":
					o.Page = strings.Clone(pp.URL)
				case pp.Path != "" && o.Page == "":
					o.Page = strings.Clone(pp.Path)
				}
			}
		}
	}
	if n := len(e.Properties); n > 0 && n <= maxRecentProps && !bytes.Equal(e.Properties, []byte("null")) {
		o.Props = rawString(e.Properties) // owned by this op (see rawJSON)
	}
	o.msgKey = keyOf(e.Workspace, e.MessageID)
	o.links = a.links[:0]
	for _, id := range o.IDs {
		o.links = append(o.links, link{id, idKeyOf(e.Workspace, id.Type, id.Value)})
	}
	if o.AliasPrev != "" {
		o.aliasKeys = [2]idKey{idKeyOf(e.Workspace, cdp.IDUserID, o.AliasPrev), idKeyOf(e.Workspace, cdp.IDAnonymousID, o.AliasPrev)}
	}
	return o
}

func (p *Preparer) addID(o *Op, typ, raw string) {
	if raw == "" {
		return
	}
	v := identity.Normalize(typ, raw)
	if v == "" || p.block.Blocked(typ, v) {
		o.Blocked = append(o.Blocked, typ)
		return
	}
	id := cdp.Identifier{Type: typ, Value: strings.Clone(v)}
	if !slices.Contains(o.IDs, id) {
		o.IDs = append(o.IDs, id)
	}
}

// traitsOf splits identify traits into LWW traits and identifiers.
func (p *Preparer) traitsOf(o *Op, raw json.RawMessage) error {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	var m map[string]rawJSON
	if err := gojson.Unmarshal(raw, &m); err != nil {
		return cdp.Invalid("invalid_traits", "traits", "", "must be a JSON object")
	}
	ts, seq := o.Event.Timestamp.UnixNano(), o.seq()
	o.Traits = make([]Trait, 0, len(m))
	for k, v := range m {
		o.Traits = append(o.Traits, Trait{Name: k, Value: rawString(v), TS: ts, Seq: seq})
		if typ, ok := p.traits[k]; ok {
			if s, ok := scalarString(json.RawMessage(v)); ok {
				p.addID(o, typ, s)
			}
		}
	}
	slices.SortFunc(o.Traits, func(a, b Trait) int { return strings.Compare(a.Name, b.Name) })
	return nil
}

// scalarString reads a JSON string or number as text.
func scalarString(v json.RawMessage) (string, bool) {
	if len(v) == 0 {
		return "", false
	}
	if v[0] == '"' {
		if len(v) >= 2 && v[len(v)-1] == '"' && !bytes.ContainsAny(v[1:len(v)-1], "\\\"") {
			return string(v[1 : len(v)-1]), true
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			return "", false
		}
		return s, true
	}
	if v[0] == '-' || v[0] >= '0' && v[0] <= '9' {
		return string(v), true
	}
	return "", false
}

// Segment e-commerce spec events that move revenue and order totals.
const (
	EventOrderCompleted = "Order Completed"
	EventOrderRefunded  = "Order Refunded"
)

// commerce reads revenue from "Order Completed" (and subtracts it for
// "Order Refunded"): properties.revenue, else total, else value, else the
// sum of products[].price × quantity. Unreadable amounts count as 0.
func commerce(o *Op, name string, props json.RawMessage) {
	sign := int64(1)
	switch name {
	case EventOrderCompleted:
		o.Orders = 1
	case EventOrderRefunded:
		sign = -1
	default:
		return
	}
	if len(props) == 0 {
		return
	}
	var p struct {
		Revenue  json.RawMessage `json:"revenue"`
		Total    json.RawMessage `json:"total"`
		Value    json.RawMessage `json:"value"`
		Products []struct {
			Price    json.RawMessage `json:"price"`
			Quantity json.RawMessage `json:"quantity"`
		} `json:"products"`
	}
	if gojson.Unmarshal(props, &p) != nil {
		return
	}
	for _, raw := range []json.RawMessage{p.Revenue, p.Total, p.Value} {
		if f, ok := number(raw); ok {
			o.Revenue = sign * micros(f)
			return
		}
	}
	var sum float64
	for _, pr := range p.Products {
		price, ok := number(pr.Price)
		if !ok {
			continue
		}
		q, ok := number(pr.Quantity)
		if !ok {
			q = 1
		}
		sum += price * q
	}
	o.Revenue = sign * micros(sum)
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
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return f, err == nil
}
