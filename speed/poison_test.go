package speed

import (
	"maps"
	"math/rand/v2"
	"testing"
)

// TestPoisonCopiesCheckpointed: where the copies of poison messages lie
// loads from a full checkpoint and, whole, from each delta after it.
func TestPoisonCopiesCheckpointed(t *testing.T) {
	dir := t.TempDir()
	s, prep := newTestStore(t)
	rng := rand.New(rand.NewPCG(3, 4))
	applyMix(s, prep, rng, 0, 200, 50)
	for i, copies := range []map[int]copyMark{
		{0: {Partition: 0, Offset: 7}, 3: {Partition: 1, Offset: 0}},
		{0: {Partition: 0, Offset: 9}, 3: {Partition: 1, Offset: 0}, 5: {Partition: 2, Offset: 41}},
		{0: {Partition: 0, Offset: 9}},
	} {
		applyMix(s, prep, rng, 200+10*i, 10, 50)
		s.copies = copies
		sn, _, _ := checkpointTo(t, dir, s, nil)
		if sn.Delta() != (i > 0) {
			t.Fatalf("checkpoint %d: delta %v", i, sn.Delta())
		}
		_, loaded := loadChainDump(t, dir, s.cfg)
		if !maps.Equal(loaded.copies, copies) {
			t.Errorf("checkpoint %d loads copies %v, want %v", i, loaded.copies, copies)
		}
	}
}
