package match

import (
	"context"
	"database/sql/driver"
	"fmt"
	"math"
	"strings"
	"text/template"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/tributary-cdp/tributary/identity"
	tsql "github.com/tributary-cdp/tributary/sql"
)

// Result is the outcome of one resolution.
type Result struct {
	// Records is the number of input records; ids are 0..Records-1.
	Records int
	// Link is true when pairs were compared only across sources 0 and 1.
	Link bool
	// Labels gives each record's cluster: the smallest id in it.
	Labels []int
	// Edges are the scored pairs at or above the threshold.
	Edges []identity.Edge
	// CandidatePairs is the number of distinct pairs blocking produced.
	CandidatePairs int64
	// RulePairs counts candidates per blocking rule (before the union).
	RulePairs []int64
	Params    Params
	// Stages times each step.
	Stages []Stage
}

// Stage is one timed step of a run.
type Stage struct {
	Name    string
	Seconds float64
}

// Resolver runs Fellegi–Sunter on one session.
type Resolver struct {
	cfg Config
	s   *tsql.Session
}

// New returns a resolver; cfg is validated.
func New(s *tsql.Session, cfg Config) (*Resolver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Resolver{cfg: cfg, s: s}, nil
}

var blockTmpl = template.Must(template.New("block").Parse(mustScript("fs_block.sql")))

func mustScript(name string) string {
	s, err := tsql.Script(name)
	if err != nil {
		panic(err)
	}
	return s
}

// Resolve clusters the records of fs_input (id BIGINT dense from 0, src
// INTEGER with source 0 first, one VARCHAR column per Attributes entry),
// records of workspace: its phone region reads their phone numbers ("" the
// session's default region). link compares only records of source 0 with
// records of source 1.
func (r *Resolver) Resolve(ctx context.Context, workspace string, link bool) (*Result, error) {
	res := &Result{Link: link}
	t0 := time.Now()
	mark := func(name string) {
		now := time.Now()
		res.Stages = append(res.Stages, Stage{name, now.Sub(t0).Seconds()})
		t0 = now
	}
	if err := r.s.Run(ctx, "fs_prepare.sql", map[string]any{"workspace": workspace}); err != nil {
		return nil, fmt.Errorf("prepare records: %w", err)
	}
	var n, n0 int64
	if err := r.s.QueryRow(ctx, "SELECT count(*), count(*) FILTER (WHERE src = 0) FROM fs_records").Scan(&n, &n0); err != nil {
		return nil, fmt.Errorf("count records: %w", err)
	}
	res.Records = int(n)
	mark("prepare")
	if n < 2 {
		res.Labels = identity.NewUnionFind(int(n)).Labels()
		return res, nil
	}
	totalPairs := float64(n) * float64(n-1) / 2
	if link {
		totalPairs = float64(n0) * float64(n-n0)
	}
	cmpParams := map[string]any{"jw_hi": r.cfg.JWHigh, "jw_mid": r.cfg.JWMid, "jw_lo": r.cfg.JWLow, "tf_min": r.cfg.TFMin}

	// u from random pairs.
	randomPairs := r.cfg.RandomPairs
	if float64(randomPairs) > totalPairs {
		randomPairs = int(totalPairs)
	}
	if err := r.s.Run(ctx, "fs_random_pairs.sql", map[string]any{
		"seed": r.cfg.Seed, "pairs": randomPairs, "n": n, "n0": n0, "link": link,
	}); err != nil {
		return nil, fmt.Errorf("draw random pairs: %w", err)
	}
	if err := r.compare(ctx, "fs_random", cmpParams); err != nil {
		return nil, fmt.Errorf("compare random pairs: %w", err)
	}
	randPats, err := r.patterns(ctx, false)
	if err != nil {
		return nil, err
	}
	u := estimateU(randPats[0])
	mark("u")

	// Candidates: the union of the blocking rules.
	if err := r.s.Exec(ctx, "CREATE OR REPLACE TEMP TABLE fs_blocked_raw (l BIGINT, r BIGINT, bit UBIGINT)"); err != nil {
		return nil, fmt.Errorf("create blocked pairs: %w", err)
	}
	for i, rule := range r.cfg.BlockingRules {
		var keys, notNull []string
		from := "fs_records"
		for _, a := range rule {
			expr, attr, _ := parseRuleAttr(a)
			if attr == "name" {
				from = "(SELECT *, unnest(names) AS name FROM fs_records)"
			}
			keys = append(keys, expr)
			notNull = append(notNull, expr+" IS NOT NULL")
		}
		var b strings.Builder
		if err := blockTmpl.Execute(&b, map[string]string{"Key": strings.Join(keys, ", "), "NotNull": strings.Join(notNull, " AND "), "From": from}); err != nil {
			return nil, fmt.Errorf("render blocking rule %d: %w", i, err)
		}
		stmts := tsql.Statements(b.String())
		if err := r.s.RunText(ctx, "fs_block.sql", stmts[0], nil); err != nil {
			return nil, fmt.Errorf("block on %s: %w", strings.Join(rule, "+"), err)
		}
		maxBlock, err := r.blockCap(ctx, link, float64(n))
		if err != nil {
			return nil, fmt.Errorf("block on %s: %w", strings.Join(rule, "+"), err)
		}
		if maxBlock < 2 {
			continue
		}
		if err := r.s.RunText(ctx, "fs_block.sql", stmts[1], map[string]any{
			"bit": uint64(1) << i, "max_block": maxBlock, "link": link,
		}); err != nil {
			return nil, fmt.Errorf("block on %s: %w", strings.Join(rule, "+"), err)
		}
	}
	if err := r.s.Exec(ctx, `CREATE OR REPLACE TEMP TABLE fs_blocked AS
		SELECT l, r, bit_or(bit) AS mask FROM fs_blocked_raw GROUP BY l, r`); err != nil {
		return nil, fmt.Errorf("union blocking rules: %w", err)
	}
	if err := r.rulePairs(ctx, res); err != nil {
		return nil, err
	}
	if err := r.s.Exec(ctx, "DROP TABLE fs_blocked_raw"); err != nil {
		return nil, fmt.Errorf("drop blocked pairs: %w", err)
	}
	mark("block")
	if err := r.compare(ctx, "fs_blocked", cmpParams); err != nil {
		return nil, fmt.Errorf("compare candidates: %w", err)
	}
	mark("compare")

	// m by EM, one run per blocking rule with its own comparisons held out.
	byRule, err := r.patterns(ctx, true)
	if err != nil {
		return nil, err
	}
	m := r.trainM(byRule, u)
	all := byRule[-1]
	params := Params{M: m, U: u}
	params.Lambda = fitLambda(all, params, r.cfg.veto(), totalPairs)
	res.Params = params
	mark("em")

	if err := r.score(ctx, all, params); err != nil {
		return nil, err
	}
	edges, err := r.edges(ctx)
	if err != nil {
		return nil, err
	}
	res.Edges = edges
	mark("score")
	res.Labels = identity.Cluster(int(n), edges, r.cfg.Guard)
	mark("cluster")
	return res, nil
}

// blockCap picks the largest block size (at most MaxBlockSize) whose
// blocks, all together, stay within PairsPerRecord × records pairs, so a
// rule that is selective on a small data set does not explode on a large
// one. The same configuration then serves every size.
func (r *Resolver) blockCap(ctx context.Context, link bool, records float64) (int, error) {
	text, err := tsql.Script("fs_block_sizes.sql")
	if err != nil {
		return 0, err
	}
	rows, err := r.s.Query(ctx, tsql.Statements(text)[0], sqlNamed("link", link))
	if err != nil {
		return 0, fmt.Errorf("measure blocks: %w", err)
	}
	defer rows.Close()
	budget := r.cfg.PairsPerRecord * records
	if knee := float64(r.cfg.BudgetKnee); records > knee {
		budget = r.cfg.PairsPerRecord * math.Sqrt(knee*records)
	}
	total, cap := 0.0, 1
	for rows.Next() {
		var size, blocks int64
		var pairs float64
		if err := rows.Scan(&size, &blocks, &pairs); err != nil {
			return 0, fmt.Errorf("measure blocks: %w", err)
		}
		if size > int64(r.cfg.MaxBlockSize) || total+pairs > budget {
			break
		}
		total += pairs
		cap = int(size)
	}
	return cap, rows.Err()
}

func (r *Resolver) compare(ctx context.Context, pairs string, params map[string]any) error {
	if err := r.s.Exec(ctx, "CREATE OR REPLACE TEMP VIEW fs_candidates AS SELECT l, r, mask FROM "+tsql.QuoteIdent(pairs)); err != nil {
		return err
	}
	return r.s.Run(ctx, "fs_compare.sql", params)
}

func (r *Resolver) rulePairs(ctx context.Context, res *Result) error {
	res.RulePairs = make([]int64, len(r.cfg.BlockingRules))
	rows, err := r.s.Query(ctx, "SELECT bit, count(*) FROM fs_blocked_raw GROUP BY bit")
	if err != nil {
		return fmt.Errorf("count pairs per rule: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var bit uint64
		var c int64
		if err := rows.Scan(&bit, &c); err != nil {
			return fmt.Errorf("count pairs per rule: %w", err)
		}
		for i := range res.RulePairs {
			if bit == uint64(1)<<i {
				res.RulePairs[i] = c
			}
		}
	}
	if err := r.s.QueryRow(ctx, "SELECT count(*) FROM fs_blocked").Scan(&res.CandidatePairs); err != nil {
		return fmt.Errorf("count candidates: %w", err)
	}
	return rows.Err()
}

// patterns aggregates fs_compared by key. Without byRule everything lands
// under index 0; with it, under each rule bit index set in the mask, and
// the union under -1.
func (r *Resolver) patterns(ctx context.Context, byRule bool) (map[int][]pattern, error) {
	rows, err := r.s.Query(ctx, "SELECT mask, key, count(*)::DOUBLE FROM fs_compared GROUP BY mask, key")
	if err != nil {
		return nil, fmt.Errorf("aggregate comparison patterns: %w", err)
	}
	defer rows.Close()
	out := map[int][]pattern{}
	union := map[int64]int{}
	for rows.Next() {
		var mask uint64
		var key int64
		var c float64
		if err := rows.Scan(&mask, &key, &c); err != nil {
			return nil, fmt.Errorf("aggregate comparison patterns: %w", err)
		}
		p := pattern{levels: make([]int8, len(Comparisons)), count: c}
		levelsOf(key, p.levels)
		if !byRule {
			out[0] = append(out[0], p)
			continue
		}
		for i := range r.cfg.BlockingRules {
			if mask&(uint64(1)<<i) != 0 {
				out[i] = append(out[i], p)
			}
		}
		if j, ok := union[key]; ok {
			out[-1][j].count += c
		} else {
			union[key] = len(out[-1])
			out[-1] = append(out[-1], pattern{levels: p.levels, count: c})
		}
	}
	return out, rows.Err()
}

// trainM averages, per comparison, the m estimated by EM on every rule
// that does not block on it.
func (r *Resolver) trainM(byRule map[int][]pattern, u [][]float64) [][]float64 {
	m0 := initialM()
	sum := make([][]float64, len(Comparisons))
	runs := make([]int, len(Comparisons))
	for k := range sum {
		sum[k] = make([]float64, Comparisons[k].Levels)
	}
	for i, rule := range r.cfg.BlockingRules {
		pats := byRule[i]
		total := 0.0
		for _, p := range pats {
			total += p.count
		}
		if total < float64(r.cfg.MinTrainingPairs) {
			continue
		}
		fixed := make([]bool, len(Comparisons))
		for _, a := range rule {
			_, attr, _ := parseRuleAttr(a)
			switch attr {
			case "email_user":
				attr = "email"
			case "name":
				fixed[0], fixed[1] = true, true
			}
			for k, c := range Comparisons {
				if c.Name == attr {
					fixed[k] = true
				}
			}
		}
		m, _ := em(pats, u, m0, fixed, r.cfg.veto(), r.cfg.EMIterations, r.cfg.EMTolerance)
		for k := range Comparisons {
			if fixed[k] || !observed(pats, k) {
				continue
			}
			runs[k]++
			for l := range m[k] {
				sum[k][l] += m[k][l]
			}
		}
	}
	for k := range sum {
		if runs[k] == 0 {
			sum[k] = m0[k]
			continue
		}
		for l := range sum[k] {
			sum[k][l] /= float64(runs[k])
		}
	}
	return sum
}

func observed(pats []pattern, k int) bool {
	for _, p := range pats {
		if p.levels[k] >= 0 {
			return true
		}
	}
	return false
}

// score writes the weight of every candidate pattern, then fs_edges.
func (r *Resolver) score(ctx context.Context, pats []pattern, p Params) error {
	if err := r.s.Exec(ctx, "CREATE OR REPLACE TABLE fs_pattern_weight (key BIGINT, weight DOUBLE)"); err != nil {
		return fmt.Errorf("create pattern weights: %w", err)
	}
	prior := math.Log2(p.Lambda / (1 - p.Lambda))
	v := r.cfg.veto()
	err := r.s.Conn().Raw(func(dc any) error {
		a, err := duckdb.NewAppenderFromConn(dc.(driver.Conn), "", "fs_pattern_weight")
		if err != nil {
			return err
		}
		for _, pt := range pats {
			w := prior
			var key int64
			for k, c := range Comparisons {
				l := int(pt.levels[k])
				key |= int64(l+1) << (3 * k)
				w += p.logBF(k, l)
				if r.cfg.TermFrequency && c.TFLevel >= 0 && l == c.TFLevel {
					w += math.Log2(p.U[k][l])
				}
			}
			if v.impossible(pt.levels) {
				w = math.Inf(-1)
			}
			if err := a.AppendRow(key, w); err != nil {
				a.Close()
				return err
			}
		}
		return a.Close()
	})
	if err != nil {
		return fmt.Errorf("write pattern weights: %w", err)
	}
	if err := r.s.Run(ctx, "fs_score.sql", map[string]any{"tf_on": r.cfg.TermFrequency, "threshold": r.cfg.Threshold}); err != nil {
		return fmt.Errorf("score candidates: %w", err)
	}
	return nil
}

func (r *Resolver) edges(ctx context.Context) ([]identity.Edge, error) {
	rows, err := r.s.Query(ctx, "SELECT l, r, prob FROM fs_edges")
	if err != nil {
		return nil, fmt.Errorf("read edges: %w", err)
	}
	defer rows.Close()
	var out []identity.Edge
	for rows.Next() {
		var e identity.Edge
		var l, rr int64
		if err := rows.Scan(&l, &rr, &e.Prob); err != nil {
			return nil, fmt.Errorf("read edges: %w", err)
		}
		e.A, e.B = int(l), int(rr)
		out = append(out, e)
	}
	return out, rows.Err()
}
