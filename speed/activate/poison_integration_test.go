package activate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/internal/testenv"
)

// TestKill9PoisonCopiedOnce: poison messages among good ones in
// cdp.events are copied to cdp.events.rejected; `serve` is killed with
// SIGKILL after copying some and before a checkpoint records them, and
// the restart, which replays them, does not copy them again. Each poison
// message is in cdp.events.rejected once, its headers saying where it came
// from, and the restarted process counts only those it copied.
func TestKill9PoisonCopiedOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 test")
	}
	in := testenv.Init(t)
	// Only a stop checkpoints: the kill comes after the copies, before any checkpoint.
	setCheckpointInterval(t, in, "1h")
	proc := in.Serve(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := &kafka.Writer{Addr: kafka.TCP(in.Broker), Topic: cdp.TopicEvents, Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	var poison []string
	// round sends 8 good events and 8 poison messages, one after the
	// other, over the partitions.
	round := func(name string) {
		t.Helper()
		for i := range 8 {
			u := fmt.Sprintf("%s-%d", name, i)
			if err := post(in, "/v1/track", map[string]any{"userId": u, "event": "Tick", "messageId": u}); err != nil {
				t.Fatal(err)
			}
			p := fmt.Sprintf(`{"workspace":"default","userId":%q,"type":"teleport"}`, u)
			if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("default/" + u), Value: []byte(p)}); err != nil {
				t.Fatal(err)
			}
			poison = append(poison, p)
		}
	}
	awaitPoison := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); metricSum(in, "tributary_speed_poison_messages_total") != float64(n); {
			if time.Now().After(deadline) {
				t.Fatalf("poison_messages_total is %v, want %d\n%s", metricSum(in, "tributary_speed_poison_messages_total"), n, lastLines(proc.Log.String(), 20))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	round("a")
	awaitApplied(t, in, 8)
	awaitPoison(8)
	proc.Stop(t) // checkpoints round a
	proc = in.Serve(t)
	round("b")
	awaitApplied(t, in, 8)
	awaitPoison(8)
	proc.Kill()

	proc = in.Serve(t) // replays round b
	round("c")
	awaitApplied(t, in, 16) // a poison message is copied before the events after it are applied
	if n := metricSum(in, "tributary_speed_poison_messages_total"); n != 8 {
		t.Errorf("poison_messages_total after the restart is %v, want round c's 8: round b's were copied before the kill", n)
	}
	copies := readRejected(ctx, t, in.Broker)
	at := map[string][]string{}
	for _, c := range copies {
		var rej cdp.Rejection
		if err := json.Unmarshal(c.Value, &rej); err != nil || rej.Source != "speed" || rej.Partition == nil || rej.Offset == nil {
			t.Errorf("copy at %d@%d: %s (%v)", c.Partition, c.Offset, c.Value, err)
			continue
		}
		want := map[string]string{"cdp-source-topic": cdp.TopicEvents, "cdp-source-partition": strconv.Itoa(*rej.Partition),
			"cdp-source-offset": strconv.FormatInt(*rej.Offset, 10)}
		for _, h := range c.Headers {
			if v, ok := want[h.Key]; ok && v == string(h.Value) {
				delete(want, h.Key)
			}
		}
		if len(want) > 0 {
			t.Errorf("copy at %d@%d of %d@%d: headers %v, want also %v", c.Partition, c.Offset, *rej.Partition, *rej.Offset, c.Headers, want)
		}
		at[rej.Payload] = append(at[rej.Payload], fmt.Sprintf("%d@%d (source %d@%d)", c.Partition, c.Offset, *rej.Partition, *rej.Offset))
	}
	for _, p := range poison {
		if len(at[p]) != 1 {
			t.Errorf("poison message %s: %d copies in %s %v, want 1", p, len(at[p]), cdp.TopicRejected, at[p])
		}
	}
	if len(copies) != len(poison) {
		t.Errorf("%d messages in %s, want %d", len(copies), cdp.TopicRejected, len(poison))
	}
}

// readRejected reads every message of cdp.events.rejected.
func readRejected(ctx context.Context, t *testing.T, addr string) []kafka.Message {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{cdp.TopicRejected}})
	if err != nil || len(md.Topics) != 1 {
		t.Fatalf("metadata of %s: %v", cdp.TopicRejected, err)
	}
	var out []kafka.Message
	for _, p := range md.Topics[0].Partitions {
		resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{cdp.TopicRejected: {kafka.LastOffsetOf(p.ID)}}})
		if err != nil {
			t.Fatal(err)
		}
		end := resp.Topics[cdp.TopicRejected][0].LastOffset
		if end == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: cdp.TopicRejected, Partition: p.ID, MaxWait: 50 * time.Millisecond})
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("read %s partition %d: %v", cdp.TopicRejected, p.ID, err)
			}
			out = append(out, m)
			if m.Offset+1 >= end {
				break
			}
		}
		r.Close()
	}
	return out
}
