package speed

import (
	"math/rand/v2"
	"testing"
)

// TestKeyTableMatchesMap: keyTable and keySet answer as a Go map does,
// through growth, repeated keys and the zero key.
func TestKeyTableMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	pool := make([][2]uint64, 20_000) // keys are hashes: uniform bits
	for i := range pool {
		pool[i] = [2]uint64{rng.Uint64(), rng.Uint64()}
	}
	pool[0] = [2]uint64{}
	var tab keyTable[uint32]
	var set keySet
	want := map[[2]uint64]uint32{}
	for i := range 60_000 {
		k, v := pool[rng.IntN(len(pool))], uint32(i)
		_, had := want[k]
		if i%3 == 0 {
			if added := tab.add(k, v); added == had {
				t.Fatalf("add %v: added %v, had %v", k, added, had)
			}
			if !had {
				want[k] = v
			}
		} else {
			if added := tab.put(k, v); added == had {
				t.Fatalf("put %v: added %v, had %v", k, added, had)
			}
			want[k] = v
		}
		if added := set.add(k); added == had {
			t.Fatalf("set.add %v: added %v, had %v", k, added, had)
		}
	}
	if tab.len() != len(want) || set.len() != len(want) {
		t.Fatalf("len %d, set %d, want %d", tab.len(), set.len(), len(want))
	}
	for k, v := range want {
		if got, ok := tab.get(k); !ok || got != v {
			t.Fatalf("get %v = %d, %v; want %d", k, got, ok, v)
		}
		if !set.has(k) {
			t.Fatalf("set lost %v", k)
		}
	}
	for range 10_000 {
		k := [2]uint64{rng.Uint64(), rng.Uint64()}
		if _, ok := tab.get(k); ok || set.has(k) {
			t.Fatalf("found absent %v", k)
		}
	}
	n := 0
	tab.each(func(k [2]uint64, v uint32) bool {
		if want[k] != v {
			t.Fatalf("each: %v = %d, want %d", k, v, want[k])
		}
		n++
		return true
	})
	m := 0
	set.each(func(msgKey) bool { m++; return true })
	if n != len(want) || m != len(want) {
		t.Fatalf("each saw %d and %d of %d", n, m, len(want))
	}
}
