package speed

import (
	"encoding/binary"
	"iter"
	"slices"

	cdp "github.com/tributary-cdp/tributary"
)

// recentList is a profile's bounded recent-events list, oldest first, as
// records in one byte slice after a header (the count and the offset of
// the newest record, uint32 little-endian). A record is
//
//	TS (8, LE) | Seq (8, LE) | uvarint(len(rest)) | rest
//
// and rest the type (its index in cdp.EventTypes, one byte, with
// recentTruncated set for properties left out), then the subject (the
// name, group id or previous id: a call has one at most), the message id
// and the properties, each a uvarint length and its bytes (appendRecord).
// A slice of RecentEvent held four pointers per entry, tens of millions
// in a store, which the GC marked on every cycle and the apply loop moved
// behind write barriers; a byte slice is one pointer to memory
// the GC does not scan. The header spares the usual event (the profile's
// newest) a walk: it compares with the newest record and goes at the end.
type recentList []byte

const (
	recentHdr       = 8    // count, offset of the newest record
	recentTime      = 16   // a record's TS and Seq
	recentTruncated = 0x80 // in the type byte: RecentEvent.Truncated
)

// len is the number of records.
func (l recentList) len() int {
	if len(l) < recentHdr {
		return 0
	}
	return int(binary.LittleEndian.Uint32(l))
}

func (l recentList) newest() int { return int(binary.LittleEndian.Uint32(l[4:])) }

func (l recentList) setHeader(count, newest int) {
	binary.LittleEndian.PutUint32(l, uint32(count))
	binary.LittleEndian.PutUint32(l[4:], uint32(newest))
}

// end is the offset after the record at off.
func (l recentList) end(off int) int {
	n, k := binary.Uvarint(l[off+recentTime:])
	return off + recentTime + k + int(n)
}

func recTime(rec []byte) (ts, seq int64) {
	return int64(binary.LittleEndian.Uint64(rec)), int64(binary.LittleEndian.Uint64(rec[8:]))
}

// older reports whether the record x goes before the record y (by TS,
// then Seq).
func older(x, y []byte) bool {
	xt, xs := recTime(x)
	yt, ys := recTime(y)
	return newer(yt, ys, xt, xs)
}

// decodeRecord decodes a record; the strings alias it.
func decodeRecord(rec []byte) RecentEvent {
	var e RecentEvent
	e.TS, e.Seq = recTime(rec)
	_, k := binary.Uvarint(rec[recentTime:])
	rest := rec[recentTime+k:]
	e.Type, e.Truncated, rest = cdp.EventTypes[rest[0]&^recentTruncated], rest[0]&recentTruncated != 0, rest[1:]
	str := func() string {
		n, k := binary.Uvarint(rest)
		s := rawString(rest[k : k+int(n)])
		rest = rest[k+int(n):]
		return s
	}
	e.setSubject(str())
	e.MessageID, e.Properties = str(), str()
	return e
}

// records yields the records oldest first.
func (l recentList) records() iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for off := recentHdr; off < len(l); {
			end := l.end(off)
			if !yield(l[off:end]) {
				return
			}
			off = end
		}
	}
}

// all yields the events oldest first. Their strings alias l: they are
// valid until l next changes.
func (l recentList) all() iter.Seq[RecentEvent] {
	return func(yield func(RecentEvent) bool) {
		for off := recentHdr; off < len(l); { // not records(): its state would go to the heap
			end := l.end(off)
			if !yield(decodeRecord(l[off:end])) {
				return
			}
			off = end
		}
	}
}

// backward yields the events newest first, as all does.
func (l recentList) backward() iter.Seq[RecentEvent] {
	return func(yield func(RecentEvent) bool) {
		var buf [32]int
		offs := buf[:0]
		for off := recentHdr; off < len(l); off = l.end(off) {
			offs = append(offs, off)
		}
		for i := len(offs) - 1; i >= 0; i-- {
			if !yield(decodeRecord(l[offs[i]:l.end(offs[i])])) {
				return
			}
		}
	}
}

// typeCode is t's index in cdp.EventTypes; Event.Validate admits no other.
func typeCode(t cdp.EventType) (byte, bool) {
	i := slices.Index(cdp.EventTypes, t)
	return byte(i), i >= 0
}

// appendRecord appends e's record; e's type must be one of cdp.EventTypes.
func appendRecord(b []byte, e *RecentEvent) []byte {
	strs := [...]string{e.subject(), e.MessageID, e.Properties}
	rest := 1
	for _, s := range strs {
		rest += uvarintLen(len(s)) + len(s)
	}
	code, _ := typeCode(e.Type)
	if e.Truncated {
		code |= recentTruncated
	}
	b = slices.Grow(b, recentTime+uvarintLen(rest)+rest)
	b = binary.LittleEndian.AppendUint64(b, uint64(e.TS))
	b = binary.LittleEndian.AppendUint64(b, uint64(e.Seq))
	b = binary.AppendUvarint(b, uint64(rest))
	b = append(b, code)
	for _, s := range strs {
		b = appendStr(b, s)
	}
	return b
}

// add inserts a copy of the record rec in time order and keeps the newest
// keep records.
func (l *recentList) add(rec []byte, keep int) {
	if keep <= 0 {
		return
	}
	b := *l
	count := b.len()
	if count == 0 {
		// Exact: many profiles see one event. An empty list's room is
		// used (decodeProfile sizes it for all its records).
		n := recentHdr + len(rec)
		if cap(b) < n {
			b = make(recentList, n)
		}
		b = b[:n]
		b.setHeader(1, recentHdr)
		copy(b[recentHdr:], rec)
		*l = b
		return
	}
	// Where rec goes: at the end unless the newest record is newer, as
	// most events are; else after every record not newer. Records of the
	// same time keep their order of arrival, so a list decoded from its
	// checkpoint record comes out as it went in.
	at, idx := len(b), count
	if older(rec, b[b.newest():]) {
		at, idx = recentHdr, 0
		for !older(rec, b[at:]) {
			at, idx = b.end(at), idx+1
		}
	}
	// The oldest records go (more than one if keep was lowered since the
	// list filled), rec too if it is among them.
	drops := max(0, count+1-keep)
	kept := idx >= drops
	n, left := 0, count // n: rec's size if kept; left: the records after
	if kept {
		n, left = len(rec), count+1
	} else if drops--; drops == 0 {
		return
	}
	left -= drops
	from := recentHdr // the oldest record kept
	for range drops {
		from = b.end(from)
	}
	if !kept {
		at = from // what is left moves over the dropped records
	}
	dropped := from - recentHdr
	size := len(b) - dropped + n
	var nb recentList
	if size <= cap(b) {
		nb = b[:max(len(b), size)]
	} else {
		// Room for about twice the records while the list fills (not past
		// keep of their size), a little slack once full: records vary.
		per := (size - recentHdr) / left
		c := size + per/2
		if left < keep {
			c = min(2*size, recentHdr+per*keep+per/2)
		}
		nb = slices.Grow(recentList(nil), max(c, size))[:size]
	}
	// One move for the usual event (the newest, once the list is full):
	// the records before rec's place shift over the dropped ones.
	if dropped > 0 || &nb[0] != &b[0] {
		copy(nb[recentHdr:], b[from:at])
	}
	copy(nb[at-dropped+n:], b[at:])
	nb = nb[:size]
	newest := b.newest() - dropped + n
	if kept {
		copy(nb[at-dropped:], rec)
		if idx == count {
			newest = at - dropped
		}
	}
	nb.setHeader(left, newest)
	*l = nb
}

// merge folds q's records into l and keeps the newest keep: both are in
// time order, so one walk of the two writes the result into one exactly
// sized slice.
func (l *recentList) merge(q recentList, keep int) {
	a, nq := *l, q.len()
	if keep <= 0 || nq == 0 {
		return
	}
	skip := a.len() + nq - keep // the oldest of the union
	walk := func(fn func(rec []byte)) {
		i, j := recentHdr, recentHdr
		for k := 0; i < len(a) || j < len(q); k++ {
			var rec []byte
			if j == len(q) || i < len(a) && !older(q[j:], a[i:]) {
				rec, i = a[i:a.end(i)], a.end(i)
			} else {
				rec, j = q[j:q.end(j)], q.end(j)
			}
			if k >= skip {
				fn(rec)
			}
		}
	}
	size := recentHdr
	walk(func(rec []byte) { size += len(rec) })
	b := make(recentList, recentHdr, size)
	newest := 0
	walk(func(rec []byte) {
		newest = len(b)
		b = append(b, rec...)
	})
	b.setHeader(min(keep, a.len()+nq), newest)
	*l = b
}
