package lake

import (
	"time"

	cdp "github.com/tributary-cdp/tributary"
)

// EventRow is one row of raw/events: a cdp.Event as landed from Kafka.
// JSON objects are kept as JSON text; empty strings are stored as NULL.
type EventRow struct {
	Workspace         string     `parquet:"workspace,dict"`
	MessageID         string     `parquet:"message_id"`
	Type              string     `parquet:"type,dict"`
	Event             string     `parquet:"event,optional,dict"`
	Name              string     `parquet:"name,optional,dict"`
	Category          string     `parquet:"category,optional,dict"`
	UserID            string     `parquet:"user_id,optional"`
	AnonymousID       string     `parquet:"anonymous_id,optional"`
	PreviousID        string     `parquet:"previous_id,optional"`
	GroupID           string     `parquet:"group_id,optional"`
	Timestamp         time.Time  `parquet:"timestamp,timestamp(microsecond)"`
	OriginalTimestamp *time.Time `parquet:"original_timestamp,timestamp(microsecond)"`
	SentAt            *time.Time `parquet:"sent_at,timestamp(microsecond)"`
	ReceivedAt        time.Time  `parquet:"received_at,timestamp(microsecond)"`
	Properties        string     `parquet:"properties,optional"`
	Traits            string     `parquet:"traits,optional"`
	Context           string     `parquet:"context,optional"`
	Integrations      string     `parquet:"integrations,optional"`
	KafkaPartition    int32      `parquet:"kafka_partition"`
	KafkaOffset       int64      `parquet:"kafka_offset"`
}

// KafkaRow is a row the land job wrote from one Kafka message.
type KafkaRow interface {
	KafkaPosition() (partition int32, offset int64)
}

// KafkaPosition is where the event was read.
func (r EventRow) KafkaPosition() (int32, int64) { return r.KafkaPartition, r.KafkaOffset }

// NewEventRow converts an event read at partition/offset.
func NewEventRow(e *cdp.Event, partition int32, offset int64) EventRow {
	return EventRow{
		Workspace:         e.Workspace,
		MessageID:         e.MessageID,
		Type:              string(e.Type),
		Event:             e.Event,
		Name:              e.Name,
		Category:          e.Category,
		UserID:            e.UserID,
		AnonymousID:       e.AnonymousID,
		PreviousID:        e.PreviousID,
		GroupID:           e.GroupID,
		Timestamp:         e.Timestamp.UTC(),
		OriginalTimestamp: utcPtr(e.OriginalTimestamp),
		SentAt:            utcPtr(e.SentAt),
		ReceivedAt:        e.ReceivedAt.UTC(),
		Properties:        string(e.Properties),
		Traits:            string(e.Traits),
		Context:           string(e.Context),
		Integrations:      string(e.Integrations),
		KafkaPartition:    partition,
		KafkaOffset:       offset,
	}
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// RejectRow is one row of quarantine/<table>: an input the pipeline could
// not accept, kept with where it came from and why.
type RejectRow struct {
	Source        string    `parquet:"source,dict"`
	File          string    `parquet:"file,optional,dict"`
	Line          int64     `parquet:"line"`
	Raw           string    `parquet:"raw"`
	Reason        string    `parquet:"reason"`
	QuarantinedAt time.Time `parquet:"quarantined_at,timestamp(microsecond)"`
	// KafkaPartition and KafkaOffset locate a rejected Kafka message (-1 otherwise).
	KafkaPartition int32 `parquet:"kafka_partition"`
	KafkaOffset    int64 `parquet:"kafka_offset"`
}

// KafkaPosition is where the message was read (-1, -1 for other inputs).
func (r RejectRow) KafkaPosition() (int32, int64) { return r.KafkaPartition, r.KafkaOffset }
