package command

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"time"

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
			fmt.Fprintf(out, "%s: version %d, %d bytes, and %s after it (%d bytes), the last written %s (%s ago); loads in %s, checksums OK\n",
				info.Path, info.Version, info.Bytes, plural.Count(info.Deltas, "delta checkpoint"), info.DeltaBytes, info.Written.Format(time.RFC3339), time.Since(info.Written).Round(time.Second), info.Load.Round(time.Millisecond))
			fmt.Fprintf(out, "%s, %s, %s for deduplication\n", plural.Count(info.Profiles, "profile"), plural.Count(info.Identifiers, "identifier"), plural.Count(info.DedupeEntries, "message id"))
			for _, p := range slices.Sorted(maps.Keys(info.Offsets)) {
				fmt.Fprintf(out, "partition %d of cdp.events: resumes at offset %d\n", p, info.Offsets[p])
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}
