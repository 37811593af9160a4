// Package broker runs the embedded Kafka-protocol broker (kfake) that
// Tributary uses when no external Kafka is configured. Clients still speak
// the Kafka wire protocol to it through segmentio/kafka-go.
package broker

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"

	cdp "github.com/tributary-cdp/tributary"
)

// Config of the embedded broker.
type Config struct {
	// Addr is host:port to listen on; port 0 picks a free port.
	Addr string
	// DataDir persists topics and group offsets; restarting keeps the data.
	DataDir string
	// Partitions of cdp.events.
	Partitions int
	// SyncWrites fsyncs every produced batch.
	SyncWrites bool
}

// DefaultConfig listens on 127.0.0.1:9092 with 8 partitions.
func DefaultConfig() Config {
	return Config{Addr: "127.0.0.1:9092", Partitions: 8}
}

// Validate checks the config.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("embedded broker addr %q: %w", c.Addr, err)
	}
	if c.DataDir == "" {
		return errors.New("embedded broker: data dir is required")
	}
	if c.Partitions < 1 {
		return fmt.Errorf("embedded broker: partitions %d must be at least 1", c.Partitions)
	}
	return nil
}

// Broker is a running embedded broker.
type Broker struct {
	cluster *kfake.Cluster
	addr    string
}

// Start listens and loads persisted state. Topics cdp.events and
// cdp.events.rejected are created when missing.
func Start(cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	host, portStr, _ := net.SplitHostPort(cfg.Addr)
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker port %q: %w", portStr, err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create broker data dir: %w", err)
	}
	opts := []kfake.Opt{
		kfake.Ports(port),
		kfake.DataDir(cfg.DataDir),
		kfake.SeedTopics(int32(cfg.Partitions), cdp.TopicEvents),
		kfake.SeedTopics(int32(cfg.Partitions), cdp.TopicRejected),
		kfake.SeedTopics(int32(cfg.Partitions), cdp.TopicSegmentChanges),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
		}),
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start embedded broker on %s: %w", cfg.Addr, err)
	}
	addrs := c.ListenAddrs()
	if len(addrs) == 0 {
		c.Close()
		return nil, errors.New("embedded broker: no listen address")
	}
	return &Broker{cluster: c, addr: addrs[0]}, nil
}

// Addr is the address clients dial.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker and flushes its data.
func (b *Broker) Close() {
	if b.cluster != nil {
		b.cluster.Close()
		b.cluster = nil
	}
}
