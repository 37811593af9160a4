package identity

import "testing"

func TestClusterGuard(t *testing.T) {
	// Two dense triangles joined by one weak edge stay apart; a strong
	// edge, or a weak one into a singleton, merges.
	tri := func(a, b, c int) []Edge {
		return []Edge{{a, b, 0.9999}, {b, c, 0.9999}, {a, c, 0.9999}}
	}
	edges := append(tri(0, 1, 2), tri(3, 4, 5)...)
	edges = append(edges, Edge{2, 3, 0.95}, Edge{5, 6, 0.95})
	got := Cluster(7, edges, DefaultGuard())
	want := []int{0, 0, 0, 3, 3, 3, 3}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("labels = %v, want %v", got, want)
		}
	}
	// Enough support across: two of three members link → merge.
	edges = append(edges, Edge{1, 4, 0.95})
	got = Cluster(7, edges, DefaultGuard())
	for i := range got {
		if got[i] != 0 {
			t.Fatalf("with support, labels = %v, want all 0", got)
		}
	}
}

func TestCountPairs(t *testing.T) {
	tests := []struct {
		name    string
		cluster []int
		entity  []string
		src     []int
		want    PairCounts
	}{
		{"perfect", []int{0, 0, 2}, []string{"a", "a", "b"}, nil, PairCounts{1, 1, 1}},
		{"overmerge", []int{0, 0, 0}, []string{"a", "a", "b"}, nil, PairCounts{1, 3, 1}},
		{"split", []int{0, 1, 1, 1}, []string{"a", "a", "a", "a"}, nil, PairCounts{6, 3, 3}},
		{"link counts cross pairs only", []int{0, 0, 0}, []string{"a", "a", "a"}, []int{0, 0, 1}, PairCounts{2, 2, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CountPairs(tt.cluster, tt.entity, tt.src); got != tt.want {
				t.Errorf("CountPairs = %+v, want %+v", got, tt.want)
			}
		})
	}
}
