package match

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/tributary-cdp/tributary/identity"
)

// Attributes are the record attributes the resolver understands, the
// columns of fs_input after id and src.
var Attributes = []string{
	"first_name", "last_name", "full_name", "dob", "email", "phone", "street", "street_number",
	"city", "postcode", "state", "country", "national_id", "gender", "occupation", "birth_place",
}

// IsAttribute reports whether a is one of Attributes.
func IsAttribute(a string) bool { return slices.Contains(Attributes, a) }

// Comparison is one entry of the comparison vector computed by
// fs_compare.sql, in the same order as its g0..g15 columns.
type Comparison struct {
	Name string
	// Levels is the number of non-null levels, 0 (disagree) to Levels-1 (exact).
	Levels int
	// TFLevel is the level adjusted by term frequency, -1 for none.
	TFLevel int
}

// Comparisons mirrors fs_compare.sql.
var Comparisons = []Comparison{
	{"first_name", 6, 5}, {"last_name", 6, 5}, {"full_name", 5, 4}, {"dob", 5, 4},
	{"email", 4, -1}, {"phone", 3, -1}, {"street", 4, -1}, {"street_number", 3, -1},
	{"city", 4, 3}, {"postcode", 4, 3}, {"state", 2, -1}, {"country", 2, -1},
	{"national_id", 4, -1}, {"gender", 2, -1}, {"occupation", 3, 2}, {"birth_place", 4, 3},
}

func comparisonIndex(name string) int {
	for k, c := range Comparisons {
		if c.Name == name {
			return k
		}
	}
	return -1
}

// vetoes reports the comparisons whose outright disagreement counts as a
// contradiction, and how many make a pair impossible (0: none).
type veto struct {
	idx, over []int
	max       int
}

func (c Config) veto() veto {
	v := veto{max: c.MaxContradictions}
	for _, a := range c.Contradictions {
		v.idx = append(v.idx, comparisonIndex(a))
	}
	for _, a := range c.Overrides {
		v.over = append(v.over, comparisonIndex(a))
	}
	return v
}

// impossible reports whether a pattern contradicts too much to be a match.
func (v veto) impossible(levels []int8) bool {
	if v.max <= 0 {
		return false
	}
	for _, k := range v.over {
		if int(levels[k]) == Comparisons[k].Levels-1 {
			return false
		}
	}
	n := 0
	for _, k := range v.idx {
		if levels[k] == 0 {
			n++
		}
	}
	return n >= v.max
}

// levelsOf unpacks a key of fs_compare.sql: -1 means null on either side.
func levelsOf(key int64, out []int8) {
	for k := range Comparisons {
		out[k] = int8((key>>(3*k))&7) - 1
	}
}

// Config is the resolver's model configuration. DefaultConfig is meant for
// every data set.
type Config struct {
	// BlockingRules: a pair is a candidate when it agrees exactly on every
	// attribute of at least one rule. "attr:N" compares the first N
	// characters; "email_user" is the local part of the email; "name" is
	// either of first_name and last_name (one key per name).
	BlockingRules [][]string `yaml:"blocking_rules"`
	// MaxBlockSize skips blocks (equal rule keys) with more records.
	MaxBlockSize int `yaml:"max_block_size"`
	// PairsPerRecord is each rule's budget of candidate pairs per record:
	// the largest blocks of a rule are skipped until it fits. Beyond
	// BudgetKnee records the budget grows with the square root of the
	// record count instead (PairsPerRecord × √(BudgetKnee × records)): a
	// person's number of duplicates does not grow with the data set, the
	// blocks of common names do.
	PairsPerRecord float64 `yaml:"pairs_per_record"`
	BudgetKnee     int     `yaml:"budget_knee"`
	// Jaro–Winkler thresholds of the fuzzy levels.
	JWHigh float64 `yaml:"jw_high"`
	JWMid  float64 `yaml:"jw_mid"`
	JWLow  float64 `yaml:"jw_low"`
	// TermFrequency adjusts exact matches of names, dates and places by how
	// common the value is.
	TermFrequency bool `yaml:"term_frequency"`
	// TFMin is the lowest term frequency used (caps the bonus of rare values).
	TFMin float64 `yaml:"tf_min"`
	// RandomPairs is the number of random pairs u is counted on.
	RandomPairs int `yaml:"random_pairs"`
	// EMIterations bounds each EM run; EMTolerance stops it earlier.
	EMIterations int     `yaml:"em_iterations"`
	EMTolerance  float64 `yaml:"em_tolerance"`
	// MinTrainingPairs: a blocking rule with fewer candidates trains nothing.
	MinTrainingPairs int `yaml:"min_training_pairs"`
	// Contradictions are the comparisons that identify a person rather than
	// a household or an address (first name, date of birth, national id,
	// and the contact identifiers email and phone when both records have
	// them; namesakes with other contacts and birth dates are different
	// people):
	// a pair disagreeing outright (level 0) on MaxContradictions or more of
	// them is never a match, whatever the rest says, and EM does not learn
	// from it as one. Households sharing a surname, an address and a phone
	// otherwise outweigh a different first name and birth date.
	// An exact match on one of Overrides (a personal identifier: email,
	// national id) lifts the veto.
	Contradictions    []string `yaml:"contradictions"`
	MaxContradictions int      `yaml:"max_contradictions"`
	Overrides         []string `yaml:"overrides"`
	// Threshold is the match probability from which a pair is an edge.
	Threshold float64 `yaml:"threshold"`
	// Guard limits chains through weak edges (see identity.Cluster).
	Guard identity.GuardConfig `yaml:"guard"`
	// Seed makes the random pairs reproducible (0 ≤ Seed ≤ 1).
	Seed float64 `yaml:"seed"`
}

// DefaultConfig is the one configuration used for every data set.
func DefaultConfig() Config {
	return Config{
		BlockingRules: [][]string{
			{"first_name", "last_name"},
			{"name", "dob"},
			{"name", "city"},
			{"name", "postcode"},
			{"name", "email_user"},
			{"first_name", "last_name:1"},
			{"last_name", "first_name:1"},
			{"dob", "postcode"},
			{"dob", "city"},
			{"dob", "birth_place"},
			{"name", "birth_place"},
			{"postcode", "street_number"},
			{"street", "street_number"},
			{"email"},
			{"email_user"},
			{"phone"},
			{"national_id"},
			{"full_name"},
			{"first_name:3", "last_name:3", "city"},
		},
		MaxBlockSize:      500,
		PairsPerRecord:    4,
		BudgetKnee:        100_000,
		JWHigh:            0.92,
		JWMid:             0.85,
		JWLow:             0.70,
		TermFrequency:     true,
		TFMin:             1e-5,
		RandomPairs:       500_000,
		EMIterations:      40,
		EMTolerance:       1e-5,
		MinTrainingPairs:  50,
		Contradictions:    []string{"first_name", "dob", "national_id", "email", "phone"},
		MaxContradictions: 2,
		Overrides:         []string{"email", "national_id"},
		Threshold:         0.9,
		Guard:             identity.DefaultGuard(),
		Seed:              0.42,
	}
}

// Validate checks every field; blocking rules may name only Attributes
// (plus email_user), optionally with a prefix length.
func (c Config) Validate() error {
	if len(c.BlockingRules) == 0 || len(c.BlockingRules) > 62 {
		return fmt.Errorf("identity blocking_rules: want 1 to 62 rules, have %d", len(c.BlockingRules))
	}
	for _, a := range append(append([]string{}, c.Contradictions...), c.Overrides...) {
		if comparisonIndex(a) < 0 {
			return fmt.Errorf("identity contradictions: %q is not a comparison", a)
		}
	}
	for i, r := range c.BlockingRules {
		if len(r) == 0 {
			return fmt.Errorf("identity blocking_rules[%d]: empty rule", i)
		}
		for _, a := range r {
			if _, _, err := parseRuleAttr(a); err != nil {
				return fmt.Errorf("identity blocking_rules[%d]: %w", i, err)
			}
		}
	}
	switch {
	case c.MaxBlockSize < 2:
		return fmt.Errorf("identity max_block_size %d: want at least 2", c.MaxBlockSize)
	case c.PairsPerRecord <= 0:
		return fmt.Errorf("identity pairs_per_record %g: want more than 0", c.PairsPerRecord)
	case c.BudgetKnee < 1000:
		return fmt.Errorf("identity budget_knee %d: want at least 1000 records", c.BudgetKnee)
	case !(0 < c.JWLow && c.JWLow <= c.JWMid && c.JWMid <= c.JWHigh && c.JWHigh < 1):
		return fmt.Errorf("identity jw thresholds %.2f/%.2f/%.2f: want 0 < low ≤ mid ≤ high < 1", c.JWLow, c.JWMid, c.JWHigh)
	case c.TFMin <= 0 || c.TFMin >= 1:
		return fmt.Errorf("identity tf_min %g: want 0 < tf_min < 1", c.TFMin)
	case c.RandomPairs < 1000:
		return fmt.Errorf("identity random_pairs %d: want at least 1000", c.RandomPairs)
	case c.EMIterations < 1:
		return fmt.Errorf("identity em_iterations %d: want at least 1", c.EMIterations)
	case c.Threshold <= 0 || c.Threshold >= 1:
		return fmt.Errorf("identity threshold %g: want a probability strictly between 0 and 1", c.Threshold)
	case c.MaxContradictions < 0:
		return fmt.Errorf("identity max_contradictions %d: want 0 (off) or more", c.MaxContradictions)
	case c.Seed < 0 || c.Seed > 1:
		return fmt.Errorf("identity seed %g: want 0 to 1", c.Seed)
	case c.Guard.Strong <= 0 || c.Guard.Strong > 1 || c.Guard.Support < 0 || c.Guard.Support > 1:
		return fmt.Errorf("identity guard: strong and support must be in (0, 1]")
	}
	return nil
}

// parseRuleAttr splits "last_name:3" into its SQL expression and attribute.
func parseRuleAttr(a string) (expr, attr string, err error) {
	name, n, hasPrefix := strings.Cut(a, ":")
	if !IsAttribute(name) && name != "email_user" && name != "name" {
		return "", "", fmt.Errorf("unknown attribute %q (want one of %s, email_user, name)", name, strings.Join(Attributes, ", "))
	}
	if !hasPrefix {
		return name, name, nil
	}
	k, err := strconv.Atoi(n)
	if err != nil || k < 1 || k > 64 {
		return "", "", fmt.Errorf("prefix length %q in %q: want 1 to 64", n, a)
	}
	return fmt.Sprintf("left(%s, %d)", name, k), name, nil
}

// Params are the learnt model: m and u per comparison level, and the prior
// probability that two records drawn at random match.
type Params struct {
	M, U   [][]float64
	Lambda float64
}

// BayesFactor returns log2(m/u) of comparison k at level l (0 for null).
func (p Params) logBF(k, l int) float64 {
	if l < 0 {
		return 0
	}
	return math.Log2(p.M[k][l] / p.U[k][l])
}

// pattern is a distinct comparison vector with its number of pairs.
type pattern struct {
	levels []int8
	count  float64
}

// estimateU turns level counts on random pairs into probabilities, with a
// half-count floor so a level never seen gets a small, finite u.
func estimateU(pats []pattern) [][]float64 {
	u := make([][]float64, len(Comparisons))
	for k, c := range Comparisons {
		counts := make([]float64, c.Levels)
		total := 0.0
		for _, p := range pats {
			if l := p.levels[k]; l >= 0 {
				counts[l] += p.count
				total += p.count
			}
		}
		u[k] = make([]float64, c.Levels)
		for l := range counts {
			u[k][l] = (counts[l] + 0.5) / (total + 0.5*float64(c.Levels))
		}
	}
	return u
}

// initialM spreads mass towards the exact level.
func initialM() [][]float64 {
	m := make([][]float64, len(Comparisons))
	for k, c := range Comparisons {
		m[k] = make([]float64, c.Levels)
		total := 0.0
		for l := range m[k] {
			m[k][l] = math.Pow(4, float64(l))
			total += m[k][l]
		}
		for l := range m[k] {
			m[k][l] /= total
		}
	}
	return m
}

// em estimates m (for comparisons not in fixed) and the match share among
// pats, u held fixed. It returns m and the share.
func em(pats []pattern, u, m0 [][]float64, fixed []bool, v veto, iters int, tol float64) ([][]float64, float64) {
	m := make([][]float64, len(m0))
	for k := range m0 {
		m[k] = slices.Clone(m0[k])
	}
	lambda := 0.3
	nk := len(Comparisons)
	for it := 0; it < iters; it++ {
		acc := make([][]float64, nk)
		for k := range acc {
			acc[k] = make([]float64, len(m[k]))
		}
		var sumPost, total float64
		for _, p := range pats {
			lm, lu := math.Log(lambda), math.Log(1-lambda)
			for k := 0; k < nk; k++ {
				if fixed[k] {
					continue
				}
				if l := p.levels[k]; l >= 0 {
					lm += math.Log(m[k][l])
					lu += math.Log(u[k][l])
				}
			}
			post := 1 / (1 + math.Exp(lu-lm))
			if v.impossible(p.levels) {
				post = 0
			}
			w := post * p.count
			sumPost += w
			total += p.count
			for k := 0; k < nk; k++ {
				if l := p.levels[k]; l >= 0 && !fixed[k] {
					acc[k][l] += w
				}
			}
		}
		newLambda := math.Min(math.Max(sumPost/total, 1e-9), 1-1e-9)
		delta := math.Abs(newLambda - lambda)
		lambda = newLambda
		for k := 0; k < nk; k++ {
			if fixed[k] {
				continue
			}
			s := 0.0
			for _, v := range acc[k] {
				s += v
			}
			if s == 0 {
				continue
			}
			for l := range acc[k] {
				nv := math.Max(acc[k][l]/s, 1e-6)
				delta = math.Max(delta, math.Abs(nv-m[k][l]))
				m[k][l] = nv
			}
		}
		if delta < tol {
			break
		}
	}
	return m, lambda
}

// fitLambda finds the prior over all pairs (totalPairs of them) such that
// the expected number of matches among the candidates, given m and u,
// equals lambda × totalPairs.
func fitLambda(pats []pattern, p Params, v veto, totalPairs float64) float64 {
	lambda := 1e-4
	for it := 0; it < 200; it++ {
		var exp float64
		for _, pt := range pats {
			if v.impossible(pt.levels) {
				continue
			}
			w := math.Log2(lambda / (1 - lambda))
			for k := range Comparisons {
				w += p.logBF(k, int(pt.levels[k]))
			}
			exp += pt.count / (1 + math.Exp2(-w))
		}
		next := math.Min(math.Max(exp/totalPairs, 1e-12), 0.5)
		if math.Abs(next-lambda) < 1e-9*math.Max(lambda, 1e-12) {
			lambda = next
			break
		}
		lambda = next
	}
	return lambda
}

// String prints the model: the prior, then per comparison the m, u and
// log2 Bayes factor of each level from exact down to disagree.
func (p Params) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "prior λ=%.3g (%.2f bits)\n", p.Lambda, math.Log2(p.Lambda/(1-p.Lambda)))
	for k, c := range Comparisons {
		fmt.Fprintf(&b, "%-14s", c.Name)
		for l := c.Levels - 1; l >= 0; l-- {
			fmt.Fprintf(&b, " L%d m=%.3f u=%.2g (%+.1f)", l, p.M[k][l], p.U[k][l], p.logBF(k, l))
		}
		b.WriteByte('\n')
	}
	return b.String()
}
