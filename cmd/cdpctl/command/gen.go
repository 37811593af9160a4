package command

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/tributary-cdp/tributary/identity/synth"
)

func newGenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gen",
		Short: "Generate synthetic data sets",
	}
	cmd.AddCommand(newGenPeopleCmd())
	return cmd
}

type genPeopleOptions struct {
	records int
	seed    uint64
	out     string
}

func newGenPeopleCmd() *cobra.Command {
	o := &genPeopleOptions{}
	cmd := &cobra.Command{
		Use:   "people --records N [--seed S] [--out FILE]",
		Short: "Synthetic customer records with noise, hard negatives and a truth column (person_id)",
		Long: `Write CSV records of synthetic people: typos, nicknames, swapped first and
last names, case and format variants of emails, phones and dates, missing
values, people who moved; and hard negatives: households sharing a surname
and an address, twins, juniors and seniors, namesakes in one city. The
person_id column is the truth; evaluate with

  cdpctl identity eval --input FILE --truth person_id \
    --map first_name=first_name,last_name=last_name,dob=dob,email=email,phone=phone,street=street,city=city,postcode=postcode`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := synth.DefaultConfig()
			cfg.Records, cfg.Seed = o.records, o.seed
			g, err := synth.New(cfg)
			if err != nil {
				return fmt.Errorf("--records/--seed: %w", err)
			}
			var w io.Writer = cmd.OutOrStdout()
			var f *os.File
			if o.out != "" && o.out != "-" {
				if f, err = os.Create(o.out); err != nil {
					return fmt.Errorf("create --out: %w", err)
				}
				defer f.Close()
				w = f
			}
			bw := bufio.NewWriterSize(w, 1<<20)
			cw := csv.NewWriter(bw)
			if err := cw.Write(synth.Header); err != nil {
				return fmt.Errorf("write records: %w", err)
			}
			for {
				r, ok := g.Next()
				if !ok {
					break
				}
				if err := cw.Write(r.Fields()); err != nil {
					return fmt.Errorf("write records: %w", err)
				}
			}
			cw.Flush()
			if err := cw.Error(); err != nil {
				return fmt.Errorf("write records: %w", err)
			}
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("write records: %w", err)
			}
			if f != nil {
				if err := f.Close(); err != nil {
					return fmt.Errorf("close --out: %w", err)
				}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&o.records, "records", 10000, "number of records")
	cmd.Flags().Uint64Var(&o.seed, "seed", 1, "random seed (same seed, same records)")
	cmd.Flags().StringVar(&o.out, "out", "", "output CSV file (default stdout)")
	return cmd
}
