package identity

import "slices"

// UnionFind is a disjoint-set forest over dense ids 0..n-1 with union by
// size and path halving: connected components of an edge list in
// near-linear time.
type UnionFind struct {
	parent []int32
	size   []int32
}

// NewUnionFind returns n singletons.
func NewUnionFind(n int) *UnionFind {
	u := &UnionFind{parent: make([]int32, n), size: make([]int32, n)}
	for i := range u.parent {
		u.parent[i] = int32(i)
		u.size[i] = 1
	}
	return u
}

// Find returns the representative of x's set.
func (u *UnionFind) Find(x int) int {
	p := u.parent
	i := int32(x)
	for p[i] != i {
		p[i] = p[p[i]]
		i = p[i]
	}
	return int(i)
}

// Size returns the size of x's set.
func (u *UnionFind) Size(x int) int { return int(u.size[u.Find(x)]) }

// Union merges the sets of a and b and reports whether they were apart.
func (u *UnionFind) Union(a, b int) bool {
	ra, rb := int32(u.Find(a)), int32(u.Find(b))
	if ra == rb {
		return false
	}
	if u.size[ra] < u.size[rb] {
		ra, rb = rb, ra
	}
	u.parent[rb] = ra
	u.size[ra] += u.size[rb]
	return true
}

// Labels returns, for every id, the smallest id of its set: a canonical
// component label independent of union order.
func (u *UnionFind) Labels() []int {
	n := len(u.parent)
	minOf := make([]int, n)
	for i := range minOf {
		minOf[i] = -1
	}
	out := make([]int, n)
	for i := 0; i < n; i++ {
		r := u.Find(i)
		if minOf[r] < 0 {
			minOf[r] = i
		}
		out[i] = minOf[r]
	}
	return out
}

// Edge is a scored link between two dense ids.
type Edge struct {
	A, B int
	Prob float64
}

// GuardConfig bounds how weak evidence may join two established clusters.
type GuardConfig struct {
	// Strong is the probability at or above which one edge may merge any
	// two clusters.
	Strong float64
	// DenseSize is the size from which a cluster counts as dense: joining
	// two dense clusters through weaker edges needs Support.
	DenseSize int
	// Support is the fraction of the smaller cluster's members that must
	// have an edge into the other cluster for a weak merge of dense clusters.
	Support float64
}

// DefaultGuard merges dense clusters through edges below 0.999 only when
// half the smaller one links across.
func DefaultGuard() GuardConfig { return GuardConfig{Strong: 0.999, DenseSize: 3, Support: 0.5} }

// Cluster returns component labels (the smallest member id) of n nodes
// under edges, guarding against chains: edges are applied strongest first;
// an edge below g.Strong that would join two clusters of at least
// g.DenseSize is deferred, and deferred edges merge two clusters only when
// enough members of the smaller one link to the other.
func Cluster(n int, edges []Edge, g GuardConfig) []int {
	sortEdges(edges)
	u := NewUnionFind(n)
	var deferred []Edge
	for _, e := range edges {
		ra, rb := u.Find(e.A), u.Find(e.B)
		if ra == rb {
			continue
		}
		sa, sb := int(u.size[ra]), int(u.size[rb])
		if e.Prob < g.Strong && g.DenseSize > 0 && sa >= g.DenseSize && sb >= g.DenseSize {
			deferred = append(deferred, e)
			continue
		}
		u.Union(ra, rb)
	}
	type pair struct{ a, b int }
	key := func(ra, rb int) pair {
		if ra > rb {
			return pair{rb, ra}
		}
		return pair{ra, rb}
	}
	for round := 0; round < 4 && len(deferred) > 0; round++ {
		// Per pair of current clusters, the distinct members of each side
		// that link across.
		linked := map[pair]map[int]bool{}
		for _, e := range deferred {
			ra, rb := u.Find(e.A), u.Find(e.B)
			if ra == rb {
				continue
			}
			k := key(ra, rb)
			if linked[k] == nil {
				linked[k] = map[int]bool{}
			}
			linked[k][e.A] = true
			linked[k][e.B] = true
		}
		merged := false
		var rest []Edge
		for _, e := range deferred {
			ra, rb := u.Find(e.A), u.Find(e.B)
			if ra == rb {
				continue
			}
			k := key(ra, rb)
			small, large := ra, rb
			if u.size[small] > u.size[large] {
				small, large = large, small
			}
			nSmall := 0
			for m := range linked[k] {
				if u.Find(m) == small {
					nSmall++
				}
			}
			if float64(nSmall) >= g.Support*float64(u.size[small]) {
				u.Union(ra, rb)
				merged = true
				continue
			}
			rest = append(rest, e)
		}
		deferred = rest
		if !merged {
			break
		}
	}
	return u.Labels()
}

func sortEdges(edges []Edge) {
	slices.SortFunc(edges, func(x, y Edge) int {
		switch {
		case x.Prob > y.Prob:
			return -1
		case x.Prob < y.Prob:
			return 1
		case x.A != y.A:
			return x.A - y.A
		default:
			return x.B - y.B
		}
	})
}
