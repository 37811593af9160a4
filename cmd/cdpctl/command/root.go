// Package command holds cdpctl's commands, one file each. It is the only
// place that reads flags, environment variables and config files.
package command

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tributary-cdp/tributary/internal/config"
)

// globalOptions are the flags every command accepts.
type globalOptions struct {
	configPath   string
	dataDir      string
	kafkaBrokers []string
	lakeURL      string
	logLevel     string
	level        slog.Level // logLevel, parsed
	// loadedFrom is the config file load read; "" when it used the defaults.
	loadedFrom string
}

// NewRoot builds the cdpctl command tree.
func NewRoot() *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:           "cdpctl",
		Short:         "Tributary: a customer data platform on Kafka, Parquet and DuckDB",
		SilenceUsage:  true,
		SilenceErrors: false,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := bindEnv(cmd); err != nil {
				return err
			}
			if err := g.level.UnmarshalText([]byte(g.logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: want debug, info, warn or error", g.logLevel)
			}
			slog.SetDefault(slog.New(logHandler(cmd.ErrOrStderr(), g.level)))
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.configPath, "config", "./tributary.yaml", "config file (falls back to <data-dir>/tributary.yaml)")
	pf.StringVar(&g.dataDir, "data-dir", "./data", "data directory (embedded broker, checkpoints, local lake)")
	pf.StringSliceVar(&g.kafkaBrokers, "kafka-brokers", nil, "external Kafka bootstrap brokers; empty = embedded broker")
	pf.StringVar(&g.lakeURL, "lake", "", "lake URL: file:///path or s3://bucket/prefix (default file://<data-dir>/lake)")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")

	root.AddCommand(
		newInitCmd(g),
		newServeCmd(g),
		newBrokerCmd(g),
		newCheckpointCmd(g),
		newVersionCmd(),
		newBenchCmd(g),
		newDemoCmd(),
		newSourceCmd(g),
		newSegmentCmd(g),
		newJobCmd(g),
		newIdentityCmd(g),
		newGenCmd(),
		newSQLCmd(g),
	)
	return root
}

// bindEnv fills every flag not set on the command line from
// TRIBUTARY_<FLAG> (upper case, dashes as underscores).
func bindEnv(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || err != nil {
			return
		}
		name := "TRIBUTARY_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if serr := cmd.Flags().Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, serr)
			}
		}
	})
	return err
}

// load reads the config file (if any) and applies the global flags over it.
// A missing file is fine only when --config was not given explicitly.
func (g *globalOptions) load(cmd *cobra.Command) (config.Config, error) {
	path, explicit := g.configPath, cmd.Flags().Changed("config") || os.Getenv("TRIBUTARY_CONFIG") != ""
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		path = filepath.Join(g.dataDir, "tributary.yaml")
		b, err = os.ReadFile(path)
	}
	var cfg config.Config
	switch {
	case err == nil:
		if cfg, err = config.Parse(b); err != nil {
			return cfg, fmt.Errorf("%s: %w", path, err)
		}
		g.loadedFrom = path
	case errors.Is(err, fs.ErrNotExist) && !explicit:
		cfg = config.Default()
	default:
		return cfg, fmt.Errorf("read config: %w", err)
	}
	if cmd.Flags().Changed("data-dir") || os.Getenv("TRIBUTARY_DATA_DIR") != "" || cfg.DataDir == "" {
		cfg.DataDir = g.dataDir
	}
	if len(g.kafkaBrokers) > 0 {
		cfg.Kafka.Brokers = g.kafkaBrokers
	}
	if g.lakeURL != "" {
		cfg.Lake.URL = g.lakeURL
	}
	return cfg, cfg.Validate()
}
