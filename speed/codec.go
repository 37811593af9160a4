package speed

import (
	"encoding/binary"
	"errors"
	"fmt"

	cdp "github.com/tributary-cdp/tributary"
)

// The checkpoint stores profiles in a small binary format: gob spent ~10 µs
// per profile (the apply loop pauses while a checkpoint is written), this
// ~0.5 µs. Every field of Profile is written; TestProfileCodecCoversEveryField
// fails when a field is added without being encoded.

var errShortProfile = errors.New("profile record is truncated")

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }
func appendVarint(b []byte, v int64) []byte   { return binary.AppendVarint(b, v) }

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// encodeProfile appends p's record.
func encodeProfile(b []byte, p *Profile) []byte {
	b = appendStr(b, p.CDPID)
	b = appendStr(b, p.Workspace)
	b = appendUvarint(b, uint64(len(p.Identifiers)))
	for _, id := range p.Identifiers {
		b = appendStr(b, id.Type)
		b = appendStr(b, id.Value)
	}
	b = appendUvarint(b, uint64(len(p.Traits)))
	for _, t := range p.Traits {
		b = appendStr(b, t.Name())
		b = appendStr(b, t.Value())
		b = appendVarint(b, t.TS)
		b = appendVarint(b, t.Seq)
	}
	for _, v := range []int64{p.EventsTotal, p.PageViews, p.ScreenViews, p.OrdersTotal, p.RevenueMicros, p.FirstSeen, p.LastSeen, p.UpdatedAt} {
		b = appendVarint(b, v)
	}
	b = appendUvarint(b, uint64(len(p.Events)))
	for _, e := range p.Events {
		b = appendStr(b, e.Name)
		b = appendVarint(b, e.Total)
		b = appendUvarint(b, uint64(len(e.Days)))
		for _, d := range e.Days {
			b = appendVarint(b, int64(d.Day))
			b = appendVarint(b, int64(d.N))
		}
	}
	b = appendUvarint(b, uint64(p.recent.len()))
	for r := range p.recent.all() {
		b = appendStr(b, string(r.Type))
		b = appendStr(b, r.subject())
		b = appendStr(b, r.MessageID)
		b = appendVarint(b, r.TS)
		b = appendVarint(b, r.Seq)
		b = appendStr(b, r.Properties)
		truncated := uint64(0)
		if r.Truncated {
			truncated = 1
		}
		b = appendUvarint(b, truncated)
	}
	if p.Extra == nil {
		return append(b, 0)
	}
	x := p.Extra
	ords := p.orders()
	if len(ords) == 0 {
		b = append(b, 1)
	} else {
		b = append(b, 2) // then the orders: the record of a profile without is version 6's
	}
	b = appendUvarint(b, uint64(len(x.Aliases)))
	for _, a := range x.Aliases {
		b = appendStr(b, a)
	}
	b = appendStr(b, x.LastPage.Value)
	b = appendVarint(b, x.LastPage.TS)
	b = appendVarint(b, x.LastPage.Seq)
	gs := p.Groups()
	b = appendUvarint(b, uint64(len(gs)))
	for _, g := range gs {
		b = appendStr(b, g)
	}
	if len(ords) == 0 {
		return b
	}
	b = appendUvarint(b, uint64(len(ords)))
	for _, o := range ords {
		b = appendStr(b, o.id)
		b = appendUvarint(b, uint64(o.flags))
		for _, v := range []int64{o.ts, o.seq, o.amount, o.total, o.refundTotal, o.refundTotalAmount, o.refundOther} {
			b = appendVarint(b, v)
		}
	}
	return b
}

// profileDecoder reads records of a checkpoint version; intern shares
// repeated names.
type profileDecoder struct {
	b       []byte
	err     error
	version int
	intern  func(string) string
}

func (d *profileDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShortProfile
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *profileDecoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errShortProfile
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length and checks it against what is left (each element takes a byte at least).
func (d *profileDecoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err = errShortProfile
		return 0
	}
	return int(n)
}

func (d *profileDecoder) str() string {
	n := d.count()
	if d.err != nil {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// alias reads a string without copying: it points into the record.
func (d *profileDecoder) alias() string {
	n := d.count()
	if d.err != nil {
		return ""
	}
	s := rawString(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *profileDecoder) name() string {
	s := d.str()
	if d.intern != nil {
		s = d.intern(s)
	}
	return s
}

// recent reads n recent events into a list of exactly their size.
func (d *profileDecoder) recent(n int) recentList {
	var buf [1024]byte
	recs := recentList(buf[:recentHdr]) // the records as read, in any order
	for range n {
		e := d.recentEvent()
		recs = appendRecord(recs, &e)
	}
	if d.err != nil {
		return nil
	}
	l := make(recentList, 0, len(recs))
	for off := recentHdr; off < len(recs); { // not records(): buf would go to the heap
		end := recs.end(off)
		l.add(recs[off:end], n)
		off = end
	}
	return l
}

// recentEvent reads one recent event; its strings alias the record (the
// list copies them).
func (d *profileDecoder) recentEvent() RecentEvent {
	e := RecentEvent{Type: cdp.EventType(d.alias())}
	e.setSubject(d.alias()) // before version 6 group and alias calls had none
	e.MessageID, e.TS, e.Seq, e.Properties = d.alias(), d.varint(), d.varint(), d.alias()
	if d.version < 6 {
		if e.HasTraits() || e.Type == cdp.Identify {
			e.Properties = "" // the call's properties: a group keeps its traits there now, an identify nothing
		}
	} else if t := d.uvarint(); t > 1 && d.err == nil {
		d.err = fmt.Errorf("recent event truncated flag %d is not 0 or 1", t)
	} else {
		e.Truncated = t == 1
	}
	if _, ok := typeCode(e.Type); !ok && d.err == nil {
		d.err = fmt.Errorf("recent event type %q is not an event type", e.Type)
	}
	return e
}

// orders reads a profile's orders, nil when none.
func (d *profileDecoder) orders() []order {
	n := d.count()
	if n == 0 && d.err == nil {
		d.err = errors.New("profile record has an empty order list")
	}
	if d.err != nil {
		return nil
	}
	list := make([]order, n)
	for i := range list {
		o := &list[i]
		o.id = d.str()
		if f := d.uvarint(); f > uint64(orderCompleted|orderHasTotal|orderRefundFull) && d.err == nil {
			d.err = fmt.Errorf("order %q flags %d are not an order's", o.id, f)
		} else {
			o.flags = orderFlags(f)
		}
		for _, v := range []*int64{&o.ts, &o.seq, &o.amount, &o.total, &o.refundTotal, &o.refundTotalAmount, &o.refundOther} {
			*v = d.varint()
		}
		if i > 0 && o.id <= list[i-1].id && d.err == nil {
			d.err = fmt.Errorf("order %q is not after %q", o.id, list[i-1].id)
		}
	}
	return list
}

// decodeProfile reads one record written by encodeProfile, or by that of
// the checkpoint version given.
func decodeProfile(rec []byte, version int, intern func(string) string) (*Profile, error) {
	d := &profileDecoder{b: rec, version: version, intern: intern}
	p := &Profile{CDPID: d.str(), Workspace: d.name()}
	if n := d.count(); n > 0 {
		p.Identifiers = make([]cdp.Identifier, n)
		for i := range p.Identifiers {
			p.Identifiers[i] = cdp.Identifier{Type: d.name(), Value: d.str()}
		}
	}
	if n := d.count(); n > 0 {
		var buf [16]traitSpec
		specs := buf[:0]
		for range n {
			// The strings alias the record; packTraits copies them.
			specs = append(specs, traitSpec{name: d.alias(), value: d.alias(), ts: d.varint(), seq: d.varint()})
		}
		if d.err == nil {
			p.Traits = packTraits(specs)
		}
	}
	for _, f := range []*int64{&p.EventsTotal, &p.PageViews, &p.ScreenViews, &p.OrdersTotal, &p.RevenueMicros, &p.FirstSeen, &p.LastSeen, &p.UpdatedAt} {
		*f = d.varint()
	}
	if n := d.count(); n > 0 {
		p.Events = make([]EventCount, n)
		for i := range p.Events {
			e := EventCount{Name: d.name(), Total: d.varint()}
			if m := d.count(); m > 0 {
				e.Days = make([]DayCount, m)
				for j := range e.Days {
					e.Days[j] = DayCount{Day: int32(d.varint()), N: int32(d.varint())}
				}
			}
			p.Events[i] = e
		}
	}
	if n := d.count(); n > 0 {
		p.recent = d.recent(n)
	}
	if d.err == nil && len(d.b) > 0 {
		flag := d.b[0]
		d.b = d.b[1:]
		if flag == 1 || flag == 2 && d.version >= 7 {
			x := &ProfileExtra{}
			if n := d.count(); n > 0 {
				x.Aliases = make([]string, n)
				for i := range x.Aliases {
					x.Aliases[i] = d.str()
				}
			}
			x.LastPage = LWWString{Value: d.str(), TS: d.varint(), Seq: d.varint()}
			var m extraMore
			if n := d.count(); n > 0 {
				m.groups = make([]string, n)
				for i := range m.groups {
					m.groups[i] = d.str()
				}
			}
			if flag == 2 {
				m.orders = d.orders()
			}
			if m.groups != nil || m.orders != nil {
				x.more = &m
			}
			p.Extra = x
		}
	} else if d.err == nil {
		d.err = errShortProfile
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("profile record has %d bytes left over", len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	return p, nil
}
