// Package speed is Tributary's speed layer: it consumes cdp.events into an
// in-memory profile store that answers activation look-ups within
// milliseconds of an event's arrival.
//
// The pieces:
//
//   - Consumer reads every partition of cdp.events with its own kafka-go
//     Reader, starting at the offsets of the last checkpoint, decodes in
//     those goroutines (Preparer) and applies in partition order in one
//     apply goroutine. The collector's canonical event form is decoded
//     without allocating (wire.go), anything else by goccy/go-json; what
//     the store keeps of an event is copied out of the message, and ops
//     are recycled once applied. Poison messages are copied to
//     cdp.events.rejected, once across restarts too (poison.go), and
//     skipped.
//   - Store holds profiles in 256 stripes (a lock each) and an identity
//     index (workspace, type, value) → profile. A link between two
//     clusters merges their state; the surviving cdp_id is the older
//     cluster's (smaller first_seen). Hygiene: a blocklist of junk values
//     and per-type caps (an email linked to more than 5 user ids is shared
//     and stops merging).
//   - Profile state is mergeable (DESIGN.md §1): counters add, first_seen
//     is a min, last_seen a max, traits are last-writer-wins by (event
//     timestamp, Kafka position), bounded lists keep the newest entries by
//     time. Out-of-order arrival gives the same profile as in-order.
//   - Checkpoints (SaveCheckpoint/LoadCheckpoint) write the store, its
//     per-partition offsets and the dedupe set atomically; replaying from
//     them is exact. The consumer takes them as copy-on-write snapshots
//     (snapshot.go) written in the background, and its apply loop never
//     waits for one; a file ends with a CRC-32C, and a load decodes on
//     every core (checkpoint.go). The consumer keeps its store behind an
//     atomic pointer so a store built in the background (base ⊕ deltas)
//     can be swapped in.
//   - Real-time segments (segments.go) are evaluated in the apply
//     goroutine on every profile change, in sweeps when time passes a
//     window edge (UTC midnight), at start and after a reconcile (a
//     sweep evaluates a stripe at a time on every core while the apply
//     goroutine waits, which then publishes in handle order).
//     Membership as published is kept per cdp id in the store and its
//     checkpoint; every enter/exit goes to cdp.segment-changes (key
//     "<workspace>/<cdp_id>", idempotency key from cdp.DiffMembership,
//     version "p<partition>@<offset>", "t<date>" or "r<build>") before
//     a checkpoint records it.
//   - Reconciler (reconcile.go, base.go) swaps curated builds in: base
//     from curated/profiles and curated/identity_map at watermark W, a
//     replay of cdp.events [W, T) that skips exactly the positions the live
//     store rejected as duplicates, the ops applied meanwhile (tee), then
//     an atomic swap and a checkpoint recording the build's version.
package speed
