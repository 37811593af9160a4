package command

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/internal/config"
)

type initOptions struct {
	force bool
}

func newInitCmd(g *globalOptions) *cobra.Command {
	o := &initOptions{}
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create <data-dir>/tributary.yaml with a default workspace and fresh keys",
		Long: "init writes a config with one workspace \"default\", a random write key (for SDKs)\n" +
			"and a random admin API key. The API key is printed once; the file stores its SHA-256 hash.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd, g)
		},
	}
	cmd.Flags().BoolVar(&o.force, "force", false, "overwrite an existing config")
	return cmd
}

func (o *initOptions) run(cmd *cobra.Command, g *globalOptions) error {
	path := filepath.Join(g.dataDir, "tributary.yaml")
	if _, err := os.Stat(path); err == nil && !o.force {
		return fmt.Errorf("%s exists; use --force to overwrite it", path)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	writeKey, err := config.NewKey("wk_")
	if err != nil {
		return err
	}
	apiKey, err := config.NewKey("ak_")
	if err != nil {
		return err
	}
	cfg := config.Default()
	cfg.DataDir = g.dataDir
	if abs, err := filepath.Abs(g.dataDir); err == nil {
		cfg.DataDir = abs
	}
	cfg.Kafka.Brokers = g.kafkaBrokers
	cfg.Lake.URL = g.lakeURL
	// The whole batch chain every 15 minutes, inside `cdpctl serve`.
	cfg.Jobs.Schedules = map[string]string{"all": "*/15 * * * *"}
	cfg.Workspaces = []cdp.Workspace{{
		ID:        "default",
		Name:      "Default workspace",
		WriteKeys: []string{writeKey},
		APIKeys:   []cdp.APIKey{{Name: "admin", Role: cdp.RoleAdmin, Hash: config.HashKey(apiKey)}},
	}}
	if err := cfg.Validate(); err != nil {
		return err
	}
	b, err := cfg.Marshal()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(g.dataDir, 0o755); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	header := []byte("# Tributary configuration, written by `cdpctl init`.\n# API keys are stored as SHA-256 hashes; the plain admin key was printed once.\n")
	if err := os.WriteFile(path, append(header, b...), 0o600); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "workspace: default\nwrite_key: %s\napi_key: %s\n", writeKey, apiKey)
	fmt.Fprintf(out, "config: %s\n", path)
	return nil
}
