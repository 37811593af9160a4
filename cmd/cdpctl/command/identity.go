package command

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tributary-cdp/tributary/batch/resolve"
	"github.com/tributary-cdp/tributary/identity/match"
	"github.com/tributary-cdp/tributary/internal/plural"
	tsql "github.com/tributary-cdp/tributary/sql"
)

func newIdentityCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "identity",
		Short: "Identity resolution: evaluate against ground truth, explain links",
	}
	cmd.AddCommand(newIdentityEvalCmd(g), newIdentityExplainCmd(g))
	return cmd
}

type identityEvalOptions struct {
	inputs       []string
	mapping      string
	truth        string
	truthPattern string
	json         bool
	memoryLimit  string
	threads      int
}

func newIdentityEvalCmd(g *globalOptions) *cobra.Command {
	o := &identityEvalOptions{}
	cmd := &cobra.Command{
		Use:   "eval --input FILE [--input FILE2] --map SRC=ATTR[,SRC=ATTR…] --truth COLUMN [--truth-pattern REGEX] [--json]",
		Short: "Resolve a file (or link two) and score the clusters against a ground-truth column",
		Long: `Resolve the records of one CSV/Parquet file (deduplicate) or two (link: only
pairs across the files count) with the default Fellegi–Sunter model, then
report pairwise precision, recall and F1 over the transitive closure of
clusters. The truth column (or the first capture group of --truth-pattern
applied to it) names the true entity; the resolver never reads it.

ATTR is one of: first_name, last_name, full_name, dob, email, phone, street,
street_number, city, postcode, state, country, national_id, gender,
occupation, birth_place, ignore.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mapping, err := match.ParseMap(o.mapping)
			if err != nil {
				return err
			}
			if len(o.inputs) == 0 || len(o.inputs) > 2 {
				return fmt.Errorf("--input: give one file (deduplicate) or two (link), not %d", len(o.inputs))
			}
			scfg := tsql.DefaultConfig()
			scfg.MemoryLimit, scfg.Threads = o.memoryLimit, o.threads
			s, err := tsql.Open(cmd.Context(), scfg)
			if err != nil {
				return err
			}
			defer s.Close()
			rep, err := match.Evaluate(cmd.Context(), s, match.DefaultConfig(), match.EvalOptions{
				Inputs: o.inputs, Map: mapping, Truth: o.truth, TruthPattern: o.truthPattern,
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "records %d  candidates %d  edges %d  clusters %d\n", rep.Records, rep.CandidatePairs, rep.Edges, rep.Clusters)
			fmt.Fprintf(out, "pairs: true %d  predicted %d  true positive %d\n", rep.TruePairs, rep.PredictedPairs, rep.TruePositive)
			fmt.Fprintf(out, "precision %.4f  recall %.4f  F1 %.4f  blocking recall %.4f\n", rep.Precision, rep.Recall, rep.F1, rep.BlockingRecall)
			for i, n := range rep.RulePairs {
				fmt.Fprintf(out, "  rule %-40s %10d pairs\n", strings.Join(match.DefaultConfig().BlockingRules[i], "+"), n)
			}
			for _, st := range rep.Stages {
				fmt.Fprintf(out, "  %-8s %7.2fs\n", st.Name, st.Seconds)
			}
			fmt.Fprintf(out, "%.2fs, peak RSS %.0f MiB\n", rep.Seconds, rep.PeakRSSMB)
			if o.json {
				b, err := json.Marshal(rep)
				if err != nil {
					return fmt.Errorf("encode report: %w", err)
				}
				fmt.Fprintln(out, string(b))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.inputs, "input", nil, "CSV (with header) or Parquet file; give twice to link two files")
	f.StringVar(&o.mapping, "map", "", "SRC=ATTR[,SRC=ATTR…]: source column to attribute")
	f.StringVar(&o.truth, "truth", "", "column naming the true entity (never read by the resolver)")
	f.StringVar(&o.truthPattern, "truth-pattern", "", "regular expression whose first capture group is the entity")
	f.BoolVar(&o.json, "json", false, "print the report as one JSON object on the last line")
	f.StringVar(&o.memoryLimit, "memory-limit", "", "DuckDB memory_limit (e.g. 4GB); default DuckDB's")
	f.IntVar(&o.threads, "threads", 0, "DuckDB threads; 0 = all CPUs")
	_ = cmd.MarkFlagRequired("input")
	_ = cmd.MarkFlagRequired("map")
	_ = cmd.MarkFlagRequired("truth")
	return cmd
}

func newIdentityExplainCmd(g *globalOptions) *cobra.Command {
	var workspace string
	cmd := &cobra.Command{
		Use:   "explain <type>:<value>",
		Short: "Print the profile an identifier belongs to and the edges (rule, score, source) that put it there",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			typ, value, ok := strings.Cut(args[0], ":")
			if !ok || typ == "" || value == "" {
				return fmt.Errorf("identifier %q: want <type>:<value>, e.g. email:ann@example.com", args[0])
			}
			cfg, err := g.load(cmd)
			if err != nil {
				return err
			}
			if err := checkWorkspace(cfg, workspace); err != nil {
				return fmt.Errorf("--workspace: %w", err)
			}
			env, err := openJobEnv(cmd.Context(), cfg, cfg.Brokers())
			if err != nil {
				return err
			}
			ex, err := resolve.Explain(cmd.Context(), env.lake, filepath.Join(cfg.DataDir, "cache", "lake"), env.identitySQL(), workspace, typ, value)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s:%s is in profile %s (workspace %s) with %s:\n", ex.Type, ex.Value, ex.CDPID, ex.Workspace, plural.Count(len(ex.Members), "identifier"))
			for _, m := range ex.Members {
				fmt.Fprintf(out, "  %s\n", m)
			}
			fmt.Fprintf(out, "%s:\n", plural.Count(len(ex.Edges), "edge"))
			for _, e := range ex.Edges {
				fmt.Fprintf(out, "  %s — %s  rule=%s score=%.3f source=%s record=%s run=%s at %s\n",
					e.A, e.B, e.Rule, e.Score, e.Source, e.Record, e.RunID, e.TS.Format("2006-01-02T15:04:05Z"))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&workspace, "workspace", "default", "workspace of the identifier")
	return cmd
}
