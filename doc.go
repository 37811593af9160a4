// Package cdp holds Tributary's domain types: events as the Segment spec
// defines them, identifiers, workspaces and the errors shared by every layer.
//
// Everything else builds on these types: the collector (speed/collect)
// validates and produces Events, the speed layer (speed) folds them into
// profiles, and the batch layer (batch) lands and resolves them in the lake.
package cdp

// Kafka topics every component agrees on.
const (
	// TopicEvents carries every accepted event, keyed by "<workspace>/<userId or anonymousId>".
	TopicEvents = "cdp.events"
	// TopicRejected carries events that failed validation or decoding, with the reason.
	TopicRejected = "cdp.events.rejected"
	// TopicSegmentChanges carries segment enter/exit notifications.
	TopicSegmentChanges = "cdp.segment-changes"
)
