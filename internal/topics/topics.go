// Package topics makes sure the Kafka topics Tributary relies on exist,
// on the embedded broker or on any external Kafka, through kafka-go.
package topics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	cdp "github.com/tributary-cdp/tributary"
)

// Spec is a topic to ensure.
type Spec struct {
	Name              string
	Partitions        int
	ReplicationFactor int
}

// Defaults returns the topics every deployment needs.
func Defaults(partitions, replication int) []Spec {
	return []Spec{
		{cdp.TopicEvents, partitions, replication},
		{cdp.TopicRejected, partitions, replication},
		{cdp.TopicSegmentChanges, partitions, replication},
	}
}

// Ensure creates the missing topics. When the cluster refuses (no
// permission, auto-creation disabled), the error says which topic and why.
func Ensure(ctx context.Context, brokers []string, specs []Spec) error {
	if len(brokers) == 0 {
		return errors.New("ensure topics: no brokers")
	}
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return fmt.Errorf("read Kafka metadata from %v: %w", brokers, err)
	}
	have := map[string]int{}
	for _, t := range md.Topics {
		if t.Error == nil {
			have[t.Name] = len(t.Partitions)
		}
	}
	var missing []kafka.TopicConfig
	for _, s := range specs {
		if _, ok := have[s.Name]; !ok {
			missing = append(missing, kafka.TopicConfig{Topic: s.Name, NumPartitions: s.Partitions, ReplicationFactor: s.ReplicationFactor})
		}
	}
	if len(missing) == 0 {
		return nil
	}
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: missing})
	if err != nil {
		return fmt.Errorf("create topics on %v: %w (create them yourself or grant CreateTopics)", brokers, err)
	}
	for name, terr := range resp.Errors {
		if terr != nil && !errors.Is(terr, kafka.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w (create it yourself or grant CreateTopics)", name, terr)
		}
	}
	return nil
}

// WaitReady returns once a broker answers a metadata request, or ctx ends.
func WaitReady(ctx context.Context, brokers []string) error {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 2 * time.Second}
	for {
		_, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{cdp.TopicEvents}})
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for Kafka at %v: %w (last error: %v)", brokers, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Ping reports whether a broker answers within the context's deadline.
func Ping(ctx context.Context, brokers []string) error {
	conn, err := kafka.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Brokers()
	return err
}
