package identity

// DamerauLevenshteinWithin reports whether the Damerau–Levenshtein distance
// between a and b (insertions, deletions, substitutions and transpositions
// of adjacent bytes, a substring may be edited more than once: the
// Lowrance–Wagner distance DuckDB's damerau_levenshtein computes, over
// bytes as it does) is at most k.
//
// It answers what the Fellegi–Sunter comparison asks of DuckDB's function
// (is the distance at most 1, or 2?) several times faster: DuckDB's builds a
// std::map per call, 16 µs for two e-mail addresses. The length difference
// alone rules most pairs out.
func DamerauLevenshteinWithin(a, b string, k int) bool {
	d := len(a) - len(b)
	if d < 0 {
		d = -d
	}
	if d > k {
		return false
	}
	// A common prefix or suffix never takes part in an optimal edit
	// script: only the differing middle is compared.
	for len(a) > 0 && len(b) > 0 && a[0] == b[0] {
		a, b = a[1:], b[1:]
	}
	for len(a) > 0 && len(b) > 0 && a[len(a)-1] == b[len(b)-1] {
		a, b = a[:len(a)-1], b[:len(b)-1]
	}
	if len(a) <= k && len(b) <= k {
		return true // at most max(len) substitutions and insertions
	}
	return DamerauLevenshtein(a, b) <= k
}

// DamerauLevenshtein is the unrestricted Damerau–Levenshtein distance over
// bytes (Lowrance–Wagner, with the last row of each byte value).
func DamerauLevenshtein(a, b string) int {
	n, m := len(a), len(b)
	if n == 0 {
		return m
	}
	if m == 0 {
		return n
	}
	inf := n + m
	w := m + 2
	// h[(i+1)*w + (j+1)] is the distance of a[:i] and b[:j]; row and
	// column 0 hold inf.
	var buf [34 * 34]int
	var h []int
	if (n+2)*w <= len(buf) {
		h = buf[:(n+2)*w]
	} else {
		h = make([]int, (n+2)*w)
	}
	h[0] = inf
	for i := 0; i <= n; i++ {
		h[(i+1)*w] = inf
		h[(i+1)*w+1] = i
	}
	for j := 0; j <= m; j++ {
		h[j+1] = inf
		h[w+j+1] = j
	}
	var da [256]int
	for i := 1; i <= n; i++ {
		db := 0
		for j := 1; j <= m; j++ {
			i1, j1 := da[b[j-1]], db
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
				db = j
			}
			v := h[i*w+j] + cost // substitution
			if x := h[(i+1)*w+j] + 1; x < v {
				v = x // insertion
			}
			if x := h[i*w+j+1] + 1; x < v {
				v = x // deletion
			}
			if x := h[i1*w+j1] + (i - i1 - 1) + 1 + (j - j1 - 1); x < v {
				v = x // transposition
			}
			h[(i+1)*w+j+1] = v
		}
		da[a[i-1]] = i
	}
	return h[(n+1)*w+m+1]
}
