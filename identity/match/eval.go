package match

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tributary-cdp/tributary/identity"
	tsql "github.com/tributary-cdp/tributary/sql"
)

// EvalOptions describe one evaluation against ground truth.
type EvalOptions struct {
	// Inputs are one file (deduplicate) or two (link). CSV with a header
	// (spaces after delimiters trimmed) or Parquet (by extension).
	Inputs []string
	// Map sends source columns to Attributes ("ignore" drops a column).
	Map map[string]string
	// Truth is the column naming the true entity; the resolver never sees it.
	Truth string
	// TruthPattern, when set, takes the entity from its first capture group.
	TruthPattern string
}

// EvalReport is the outcome; its JSON is the contract of `cdpctl identity eval --json`.
type EvalReport struct {
	Records int `json:"records"`
	identity.PairCounts
	Precision      float64 `json:"precision"`
	Recall         float64 `json:"recall"`
	F1             float64 `json:"f1"`
	BlockingRecall float64 `json:"blocking_recall"`
	CandidatePairs int64   `json:"candidate_pairs"`
	Edges          int     `json:"edges"`
	Clusters       int     `json:"clusters"`
	Seconds        float64 `json:"seconds"`
	PeakRSSMB      float64 `json:"peak_rss_mb"`
	Stages         []Stage `json:"-"`
	RulePairs      []int64 `json:"-"`
}

// ParseMap parses "SRC=ATTR[,SRC=ATTR…]".
func ParseMap(s string) (map[string]string, error) {
	out := map[string]string{}
	seen := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		src, attr, ok := strings.Cut(part, "=")
		src, attr = strings.TrimSpace(src), strings.TrimSpace(attr)
		if !ok || src == "" {
			return nil, fmt.Errorf("--map entry %q: want SRC=ATTR", part)
		}
		if attr != "ignore" && !IsAttribute(attr) {
			return nil, fmt.Errorf("--map entry %q: attribute %q is not one of %s, ignore", part, attr, strings.Join(Attributes, ", "))
		}
		if prev, dup := seen[attr]; dup && attr != "ignore" {
			return nil, fmt.Errorf("--map: attribute %s is mapped from both %q and %q", attr, prev, src)
		}
		seen[attr] = src
		out[src] = attr
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--map is empty: map at least one column to an attribute")
	}
	return out, nil
}

// LoadInputs creates fs_input from files, ids dense in file order and
// source by file, and eval_truth(id, entity) when truth is set.
func LoadInputs(ctx context.Context, s *tsql.Session, files []string, mapping map[string]string, truth, truthPattern string) error {
	cols := make([]string, len(Attributes))
	for i, a := range Attributes {
		cols[i] = a + " VARCHAR"
	}
	if err := s.Exec(ctx, "CREATE OR REPLACE TEMP TABLE fs_input (id BIGINT, src INTEGER, "+strings.Join(cols, ", ")+")"); err != nil {
		return fmt.Errorf("create fs_input: %w", err)
	}
	if truth != "" {
		if err := s.Exec(ctx, "CREATE OR REPLACE TEMP TABLE eval_truth (id BIGINT, entity VARCHAR)"); err != nil {
			return fmt.Errorf("create eval_truth: %w", err)
		}
	}
	offset := int64(0)
	for i, f := range files {
		view := "in_" + strconv.Itoa(i)
		var err error
		if strings.EqualFold(filepath.Ext(f), ".parquet") {
			err = s.CreateParquetView(ctx, view, []string{f})
		} else {
			err = s.CreateCSVView(ctx, view, []string{f})
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", f, err)
		}
		cols, err := s.Columns(ctx, view)
		if err != nil {
			return fmt.Errorf("read %s: %w", f, err)
		}
		byName := map[string]string{}
		names := make([]string, len(cols))
		for i, c := range cols {
			byName[strings.TrimSpace(c.Name)] = c.Name
			names[i] = c.Name
		}
		exprs := make([]string, len(Attributes))
		for j := range exprs {
			exprs[j] = "NULL"
		}
		for src, attr := range mapping {
			col, ok := byName[src]
			if !ok {
				return fmt.Errorf("--map %s=%s: %s has no column %q (columns: %s)", src, attr, f, src, strings.Join(names, ","))
			}
			if attr == "ignore" {
				continue
			}
			for j, a := range Attributes {
				if a == attr {
					exprs[j] = "trim(CAST(" + tsql.QuoteIdent(col) + " AS VARCHAR))"
				}
			}
		}
		staged := "in_rows_" + strconv.Itoa(i)
		if err := s.Exec(ctx, "CREATE OR REPLACE TEMP TABLE "+staged+" AS SELECT row_number() OVER () - 1 + $off AS id, * FROM "+view,
			sqlNamed("off", offset)); err != nil {
			return fmt.Errorf("stage %s: %w", f, err)
		}
		if err := s.Exec(ctx, "INSERT INTO fs_input SELECT id, $src, "+strings.Join(exprs, ", ")+" FROM "+staged,
			sqlNamed("src", i)); err != nil {
			return fmt.Errorf("load %s: %w", f, err)
		}
		if truth != "" {
			col, ok := byName[truth]
			if !ok {
				return fmt.Errorf("--truth %s: %s has no such column", truth, f)
			}
			q := "INSERT INTO eval_truth SELECT id, trim(CAST(" + tsql.QuoteIdent(col) + " AS VARCHAR)) FROM " + staged
			var args []any
			if truthPattern != "" {
				q = "INSERT INTO eval_truth SELECT id, regexp_extract(trim(CAST(" + tsql.QuoteIdent(col) + " AS VARCHAR)), $pat, 1) FROM " + staged
				args = append(args, sqlNamed("pat", truthPattern))
			}
			if err := s.Exec(ctx, q, args...); err != nil {
				return fmt.Errorf("read truth from %s: %w", f, err)
			}
		}
		var n int64
		if err := s.QueryRow(ctx, "SELECT count(*) FROM "+staged).Scan(&n); err != nil {
			return fmt.Errorf("count %s: %w", f, err)
		}
		offset += n
		if err := s.Exec(ctx, "DROP TABLE "+staged); err != nil {
			return fmt.Errorf("drop staging of %s: %w", f, err)
		}
	}
	return nil
}

// Evaluate loads the inputs, resolves them with cfg, and scores the
// clusters against the truth column.
func Evaluate(ctx context.Context, s *tsql.Session, cfg Config, opts EvalOptions) (*EvalReport, error) {
	start := time.Now()
	if len(opts.Inputs) < 1 || len(opts.Inputs) > 2 {
		return nil, fmt.Errorf("evaluate: want one input (deduplicate) or two (link), have %d", len(opts.Inputs))
	}
	if opts.Truth == "" {
		return nil, fmt.Errorf("evaluate: --truth names the ground-truth column and is required")
	}
	if a, ok := opts.Map[opts.Truth]; ok && a != "ignore" {
		return nil, fmt.Errorf("evaluate: the truth column %q must not be mapped to an attribute", opts.Truth)
	}
	if err := LoadInputs(ctx, s, opts.Inputs, opts.Map, opts.Truth, opts.TruthPattern); err != nil {
		return nil, err
	}
	r, err := New(s, cfg)
	if err != nil {
		return nil, err
	}
	link := len(opts.Inputs) == 2
	res, err := r.Resolve(ctx, "", link)
	if err != nil {
		return nil, err
	}
	entity := make([]string, res.Records)
	src := make([]int, res.Records)
	rows, err := s.Query(ctx, "SELECT t.id, coalesce(t.entity, ''), i.src FROM eval_truth t JOIN fs_input i USING (id)")
	if err != nil {
		return nil, fmt.Errorf("read truth: %w", err)
	}
	for rows.Next() {
		var id int64
		var e string
		var sv int
		if err := rows.Scan(&id, &e, &sv); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read truth: %w", err)
		}
		if e == "" {
			e = "\x00row" + strconv.FormatInt(id, 10) // no truth: its own entity
		}
		entity[id], src[id] = e, sv
	}
	rows.Close()
	var srcArg []int
	if link {
		srcArg = src
	}
	pc := identity.CountPairs(res.Labels, entity, srcArg)
	rep := &EvalReport{
		Records: res.Records, PairCounts: pc, Precision: pc.Precision(), Recall: pc.Recall(), F1: pc.F1(),
		CandidatePairs: res.CandidatePairs, Edges: len(res.Edges), Stages: res.Stages, RulePairs: res.RulePairs,
	}
	clusters := map[int]bool{}
	for _, l := range res.Labels {
		clusters[l] = true
	}
	rep.Clusters = len(clusters)
	rep.BlockingRecall = 1
	if pc.TruePairs > 0 {
		var found int64
		if err := s.QueryRow(ctx, `SELECT count(*) FROM fs_blocked b
			JOIN eval_truth x ON x.id = b.l JOIN eval_truth y ON y.id = b.r
			WHERE x.entity = y.entity AND x.entity <> ''`).Scan(&found); err != nil {
			return nil, fmt.Errorf("measure blocking recall: %w", err)
		}
		rep.BlockingRecall = float64(found) / float64(pc.TruePairs)
	}
	rep.Seconds = time.Since(start).Seconds()
	rep.PeakRSSMB = PeakRSSMB()
	return rep, nil
}

// PeakRSSMB is the process's peak resident set (VmHWM) in MiB, 0 when unknown.
func PeakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseFloat(f[0], 64)
				return kb / 1024
			}
		}
	}
	return 0
}
