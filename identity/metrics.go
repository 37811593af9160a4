package identity

// PairCounts are the pairwise figures of a clustering against the truth,
// over the transitive closure of clusters.
type PairCounts struct {
	TruePairs      int64 `json:"true_pairs"`
	PredictedPairs int64 `json:"predicted_pairs"`
	TruePositive   int64 `json:"true_positive_pairs"`
}

// Precision is TP / predicted pairs (1 when nothing was predicted).
func (c PairCounts) Precision() float64 {
	if c.PredictedPairs == 0 {
		return 1
	}
	return float64(c.TruePositive) / float64(c.PredictedPairs)
}

// Recall is TP / true pairs (1 when there is nothing to find).
func (c PairCounts) Recall() float64 {
	if c.TruePairs == 0 {
		return 1
	}
	return float64(c.TruePositive) / float64(c.TruePairs)
}

// F1 is the harmonic mean of precision and recall.
func (c PairCounts) F1() float64 {
	p, r := c.Precision(), c.Recall()
	if p+r == 0 {
		return 0
	}
	return 2 * p * r / (p + r)
}

// CountPairs compares cluster labels with true entity labels, record by
// record. In link mode (src non-nil) only pairs whose records come from
// different sources count; src holds 0 or 1 per record.
func CountPairs(cluster []int, entity []string, src []int) PairCounts {
	type cell struct {
		c int
		e string
	}
	type side [2]int64
	byEntity := map[string]*side{}
	byCluster := map[int]*side{}
	byCell := map[cell]*side{}
	add := func(s *side, i int) {
		k := 0
		if src != nil {
			k = src[i]
		}
		s[k]++
	}
	for i := range cluster {
		e, c := entity[i], cluster[i]
		if byEntity[e] == nil {
			byEntity[e] = &side{}
		}
		if byCluster[c] == nil {
			byCluster[c] = &side{}
		}
		k := cell{c, e}
		if byCell[k] == nil {
			byCell[k] = &side{}
		}
		add(byEntity[e], i)
		add(byCluster[c], i)
		add(byCell[k], i)
	}
	pairs := func(s *side) int64 {
		if src != nil {
			return s[0] * s[1]
		}
		return s[0] * (s[0] - 1) / 2
	}
	var pc PairCounts
	for _, s := range byEntity {
		pc.TruePairs += pairs(s)
	}
	for _, s := range byCluster {
		pc.PredictedPairs += pairs(s)
	}
	for _, s := range byCell {
		pc.TruePositive += pairs(s)
	}
	return pc
}
