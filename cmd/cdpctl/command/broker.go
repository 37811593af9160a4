package command

import (
	"fmt"
	"log/slog"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tributary-cdp/tributary/internal/broker"
)

type brokerOptions struct {
	addr string
}

func newBrokerCmd(g *globalOptions) *cobra.Command {
	o := &brokerOptions{}
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run only the embedded Kafka-protocol broker (for multi-process setups)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load(cmd)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("embedded-broker-addr") || o.addr != "" {
				cfg.Kafka.EmbeddedAddr = o.addr
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			dir := filepath.Join(cfg.DataDir, "kafka")
			l, err := lockDir(dir, "embedded broker")
			if err != nil {
				return err
			}
			defer l.release()
			b, err := startEmbedded(cfg.Kafka.EmbeddedAddr, dir, cfg.Kafka.Partitions, cfg.Kafka.SyncWrites)
			if err != nil {
				return err
			}
			defer b.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "embedded Kafka broker listening on %s\n", b.Addr())
			<-ctx.Done()
			slog.Info("broker stopping")
			return nil
		},
	}
	cmd.Flags().StringVar(&o.addr, "embedded-broker-addr", "", "listen address of the embedded broker (default from config, 127.0.0.1:9092)")
	return cmd
}

func startEmbedded(addr, dir string, partitions int, sync bool) (*broker.Broker, error) {
	cfg := broker.DefaultConfig()
	cfg.Addr, cfg.DataDir, cfg.Partitions, cfg.SyncWrites = addr, dir, partitions, sync
	b, err := broker.Start(cfg)
	if err != nil {
		return nil, err
	}
	slog.Info("embedded Kafka broker started", "addr", b.Addr(), "data_dir", dir)
	return b, nil
}
