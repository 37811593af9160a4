package speed

import (
	"math"
	"unsafe"
)

// keyTable maps 128-bit keys that are hashes already (msgKey, idKey) to
// values, by open addressing: the slot is chosen by the key's own bits
// (no hashing) and probed linearly, so a look-up is usually one cache
// line where a Go map reads a control word and then a slot, after hashing
// the key once more. The store holds millions of keys, each a likely
// cache miss, and the apply goroutine looks several up per event.
//
// Keys must have uniform bits (they are xxh3 hashes): a key picks its
// slot by its low bits.
//
// The zero key marks an empty slot; a real zero key (a hash that is zero
// in all 128 bits) is kept apart. Deleting is not supported: the dedupe
// drops whole generations, and an identifier, once indexed, stays.
type keyTable[V any] struct {
	slots []keySlot[V] // a power of two long, or empty
	n     int          // keys in slots
	zero  bool         // the zero key is in the table
	zeroV V
}

type keySlot[V any] struct {
	k [2]uint64
	v V
}

// keyTableMinSlots is the size of a table's first allocation.
const keyTableMinSlots = 8

// len is the number of keys.
func (t *keyTable[V]) len() int {
	if t.zero {
		return t.n + 1
	}
	return t.n
}

// bytes is the size of the slots.
func (t *keyTable[V]) bytes() int { return len(t.slots) * int(unsafe.Sizeof(keySlot[V]{})) }

// get returns the value of k.
func (t *keyTable[V]) get(k [2]uint64) (V, bool) {
	if k == ([2]uint64{}) {
		return t.zeroV, t.zero
	}
	if len(t.slots) == 0 {
		var zero V
		return zero, false
	}
	mask := uint64(len(t.slots) - 1)
	for i := k[1] & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.k == k {
			return s.v, true
		}
		if s.k == ([2]uint64{}) {
			var zero V
			return zero, false
		}
	}
}

// put sets the value of k and reports whether k was new.
func (t *keyTable[V]) put(k [2]uint64, v V) bool {
	if k == ([2]uint64{}) {
		added := !t.zero
		t.zero, t.zeroV = true, v
		return added
	}
	if (t.n+1)*4 > len(t.slots)*3 { // at most 3/4 full
		t.grow()
	}
	mask := uint64(len(t.slots) - 1)
	for i := k[1] & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.k == k {
			s.v = v
			return false
		}
		if s.k == ([2]uint64{}) {
			*s = keySlot[V]{k, v}
			t.n++
			return true
		}
	}
}

// add adds k with v unless k is there; it reports whether k was new.
func (t *keyTable[V]) add(k [2]uint64, v V) bool {
	if k == ([2]uint64{}) {
		if t.zero {
			return false
		}
		t.zero, t.zeroV = true, v
		return true
	}
	if (t.n+1)*4 > len(t.slots)*3 {
		t.grow()
	}
	mask := uint64(len(t.slots) - 1)
	for i := k[1] & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.k == k {
			return false
		}
		if s.k == ([2]uint64{}) {
			*s = keySlot[V]{k, v}
			t.n++
			return true
		}
	}
}

// reserve makes room for n keys in all without growing.
func (t *keyTable[V]) reserve(n int) {
	size := keyTableMinSlots
	for n*4 > size*3 {
		size *= 2
	}
	if size > len(t.slots) {
		t.resize(size)
	}
}

func (t *keyTable[V]) grow() {
	t.resize(max(keyTableMinSlots, 2*len(t.slots)))
}

func (t *keyTable[V]) resize(size int) {
	old := t.slots
	t.slots = make([]keySlot[V], size)
	mask := uint64(size - 1)
	for _, s := range old {
		if s.k == ([2]uint64{}) {
			continue
		}
		i := s.k[1] & mask
		for t.slots[i].k != ([2]uint64{}) {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

// each calls fn for every key and value until it returns false.
func (t *keyTable[V]) each(fn func(k [2]uint64, v V) bool) bool {
	if t.zero && !fn([2]uint64{}, t.zeroV) {
		return false
	}
	for i := range t.slots {
		if s := &t.slots[i]; s.k != ([2]uint64{}) && !fn(s.k, s.v) {
			return false
		}
	}
	return true
}

// keySet is a set of message keys in 64 tables chosen by the key's top
// bits, so growing one rehashes 1/64 of the set: the apply goroutine
// never pauses to move millions of keys at once.
type keySet struct {
	parts [64]keyTable[struct{}]
}

func (s *keySet) part(k msgKey) *keyTable[struct{}] { return &s.parts[k[0]>>58] }

// peek reads the slot k starts probing at, to bring it into the cache.
func (s *keySet) peek(k msgKey) uint64 {
	t := s.part(k)
	if len(t.slots) == 0 {
		return 0
	}
	return t.slots[k[1]&uint64(len(t.slots)-1)].k[0]
}

func (s *keySet) has(k msgKey) bool {
	_, ok := s.part(k).get(k)
	return ok
}

// add adds k and reports whether it was new.
func (s *keySet) add(k msgKey) bool { return s.part(k).add(k, struct{}{}) }

// sizedLike returns an empty set with room for as many keys, part by
// part, as o holds.
func sizedLike(o *keySet) *keySet {
	s := &keySet{}
	for i := range s.parts {
		s.parts[i].reserve(o.parts[i].len())
	}
	return s
}

// reserve makes room for n more keys. They pick parts by their bits, so
// a part gets n/64 of them, give or take a few times its square root.
func (s *keySet) reserve(n int) {
	per := n / len(s.parts)
	per += 4*int(math.Sqrt(float64(per))) + 1
	for i := range s.parts {
		s.parts[i].reserve(s.parts[i].len() + per)
	}
}

func (s *keySet) len() int {
	n := 0
	for i := range s.parts {
		n += s.parts[i].len()
	}
	return n
}

func (s *keySet) each(fn func(k msgKey) bool) {
	for i := range s.parts {
		if !s.parts[i].each(func(k [2]uint64, _ struct{}) bool { return fn(k) }) {
			return
		}
	}
}
