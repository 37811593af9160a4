package command

import "github.com/spf13/cobra"

// newBenchCmd groups the benchmarks that print their figures; each
// subcommand measures a ratio against a baseline in the same run.
func newBenchCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput and latency against a baseline in the same run",
	}
	cmd.AddCommand(
		newBenchCollectCmd(g),
		newBenchSpeedCmd(g),
		newBenchHTTPLoadCmd(),
		newBenchLandCmd(g),
		newBenchIngestCmd(g),
		newBenchPipelineCmd(),
	)
	return cmd
}
