package command

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/tributary-cdp/tributary/internal/plural"
	"github.com/tributary-cdp/tributary/speed"
)

type checkpointOptions struct {
	json bool
}

func newCheckpointCmd(g *globalOptions) *cobra.Command {
	o := &checkpointOptions{}
	cmd := &cobra.Command{
		Use:   "checkpoint",
		Short: "Load the speed layer's checkpoint as a restart would, checksum included, and describe it",
		Long: "Load <data-dir>/speed/" + speed.CheckpointFile + " as `serve` does at start (every profile decoded, the\n" +
			"CRC-32C checked) and print what it holds. A checkpoint that does not load exits non-zero with the\n" +
			"reason; serve would refuse it too. Moving it aside makes serve start over from the start of\n" +
			"cdp.events (and the next reconcile from the curated zone). Safe while serve runs: checkpoints are\n" +
			"renamed into place whole. It holds the whole store in memory, as serve does.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load(cmd)
			if err != nil {
				return err
			}
			sc := speedConfig(cfg, nil, nil)
			info, err := speed.InspectCheckpoint(sc.Dir, sc.Store)
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("no speed checkpoint in %s: serve writes one every %s and when it stops", sc.Dir, sc.CheckpointInterval)
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if o.json {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					speed.CheckpointInfo
					LoadSeconds float64 `json:"load_seconds"`
				}{info, info.Load.Seconds()})
			}
			fmt.Fprintf(out, "%s: version %d, %s, and %s after it (%s), the last written %s (%s ago); loads in %s, checksums OK\n",
				info.Path, info.Version, humanize.IBytes(uint64(info.Bytes)), plural.Count(info.Deltas, "delta checkpoint"), humanize.IBytes(uint64(info.DeltaBytes)),
				info.Written.Format(time.RFC3339), time.Since(info.Written).Round(time.Second), info.Load.Round(time.Millisecond))
			fmt.Fprintf(out, "%s, %s, %s remembered, %s for deduplication\n", plural.Count(info.Profiles, "profile"), plural.Count(info.Identifiers, "identifier"),
				plural.Count(info.Orders, "order"), plural.Count(info.DedupeEntries, "message id"))
			// A partition may have a mark and no offset yet, or the reverse.
			parts := map[int]int64{}
			for p := range info.PoisonCopies {
				parts[p] = 0
			}
			maps.Copy(parts, info.Offsets)
			for _, p := range slices.Sorted(maps.Keys(parts)) {
				poison := "no mark of where the copies of its poison messages lie: a start reads all of " + sc.Rejected
				if m, ok := info.PoisonCopies[p]; ok {
					poison = fmt.Sprintf("the copies of its poison messages from there lie at or past offset %d of partition %d of %s", m.Offset, m.Partition, sc.Rejected)
				}
				fmt.Fprintf(out, "partition %d of %s: resumes at offset %d; %s\n", p, sc.Topic, parts[p], poison)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}
