package topics

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	cdp "github.com/tributary-cdp/tributary"
)

func TestEnsureCreatesMissingTopicsOnAnExternalKafka(t *testing.T) {
	// A bare broker with no topics plays the external Kafka.
	c, err := kfake.NewCluster(kfake.Ports(0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := WaitReady(ctx, brokers); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second call finds them and does nothing
		if err := Ensure(ctx, brokers, Defaults(3, 1)); err != nil {
			t.Fatal(err)
		}
	}
	client := &kafka.Client{Addr: kafka.TCP(brokers...)}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{cdp.TopicEvents, cdp.TopicRejected, cdp.TopicSegmentChanges}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range md.Topics {
		if tp.Error != nil || len(tp.Partitions) != 3 {
			t.Fatalf("topic %s: %v, %d partitions", tp.Name, tp.Error, len(tp.Partitions))
		}
	}
	if err := Ping(ctx, brokers); err != nil {
		t.Fatal(err)
	}
}

func TestEnsureNamesTheBrokerWhenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err := Ensure(ctx, []string{"127.0.0.1:1"}, Defaults(1, 1))
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("want an error naming the broker, got %v", err)
	}
}
