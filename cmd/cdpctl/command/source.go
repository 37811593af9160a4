package command

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tributary-cdp/tributary/batch/ingest"
	"github.com/tributary-cdp/tributary/internal/plural"
	"github.com/tributary-cdp/tributary/lake"
)

func newSourceCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "source",
		Short: "Define CRM file drops at runtime: add a YAML definition, list, remove",
	}
	cmd.AddCommand(newSourceAddCmd(g), newSourceListCmd(g), newSourceRemoveCmd(g))
	return cmd
}

type sourceAddOptions struct {
	replace bool
	noCheck bool
}

func newSourceAddCmd(g *globalOptions) *cobra.Command {
	o := &sourceAddOptions{}
	cmd := &cobra.Command{
		Use:   "add FILE",
		Short: "Validate a source definition (YAML) and register it; the next ingest run picks it up",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.load(cmd)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("read source definition: %w", err)
			}
			src, err := ingest.ParseSource(b)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			ctx := cmd.Context()
			env, err := openJobEnv(ctx, cfg, cfg.Brokers())
			if err != nil {
				return err
			}
			// Checked before the definition is stored: a column the newest
			// file lacks, or a field that rejects all its rows, would fail
			// every file like it at each run.
			var note string
			if !o.noCheck {
				cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				n, newest, rows, bad, err := env.probe(cctx, src)
				files := plural.Count(n, "file")
				// CSV with a header and Parquet name their columns without rows.
				named := src.Format.Type == "parquet" || src.Format.Type == "csv" && src.Format.HasHeader()
				switch {
				case bad != nil:
					return fmt.Errorf("%s: source %s: %s, the newest file at %s, would not ingest: %w; fix the definition, or add it with --no-check if the files to come differ",
						args[0], src.Name, newest, src.Location, bad)
				case err != nil:
					note = fmt.Sprintf("warning: cannot list %s yet: %v", src.Location, err)
				case newest == "":
					note = files + " there now"
				case rows > 0:
					note = fmt.Sprintf("%s there now; the newest, %s, has every column the fields read, and values they take in %s",
						files, newest, ingest.FirstRows(rows))
				case named:
					note = fmt.Sprintf("%s there now; the newest, %s, has every column the fields read", files, newest)
				default:
					note = fmt.Sprintf("%s there now; the newest, %s, has no rows to check the fields with", files, newest)
				}
			}
			if err := ingest.NewStore(env.lake).Add(ctx, src, o.replace); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "source %s added: %s %s from %s into %s (%d fields)\n", src.Name, src.Kind, src.Format.Type, src.Location, src.Table(), len(src.Fields))
			if note != "" {
				fmt.Fprintln(out, note)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&o.replace, "replace", false, "replace an existing definition of the same name")
	cmd.Flags().BoolVar(&o.noCheck, "no-check", false, "skip listing the location and checking the head of its newest file against the fields")
	return cmd
}

func newSourceListCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List sources with what has been ingested from each",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			env, err := openJobEnv(ctx, cfg, cfg.Brokers())
			if err != nil {
				return err
			}
			srcs, err := ingest.NewStore(env.lake).List(ctx)
			if err != nil {
				return err
			}
			if len(srcs) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no sources; add one with `cdpctl source add FILE`")
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tWORKSPACE\tKIND\tFORMAT\tLOCATION\tFIELDS\tFILES\tROWS\tQUARANTINED")
			for _, s := range srcs {
				m, err := lake.LatestManifest(ctx, env.lake, s.Table())
				if err != nil {
					return err
				}
				var rows, quarantined int64
				for _, in := range m.Inputs {
					rows += in.Rows
					quarantined += in.Quarantined
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s/%s\t%s\t%d\t%d\t%d\t%d\n", s.Name, s.Workspace, s.Kind, s.Format.Type, s.Format.Encoding,
					s.Location, len(s.Fields), len(m.Inputs), rows, quarantined)
			}
			return tw.Flush()
		},
	}
}

func newSourceRemoveCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: "Unregister a source (its landed data stays in the lake)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.load(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			env, err := openJobEnv(ctx, cfg, cfg.Brokers())
			if err != nil {
				return err
			}
			if err := ingest.NewStore(env.lake).Remove(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "source %s removed; raw/%s and quarantine/%s stay in the lake\n", args[0], args[0], args[0])
			return nil
		},
	}
}
