package cdp

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"
)

// SegmentChangeKind says whether a profile entered or left a segment.
type SegmentChangeKind string

// Kinds of membership change.
const (
	SegmentEnter SegmentChangeKind = "enter"
	SegmentExit  SegmentChangeKind = "exit"
)

// SegmentChange is one membership change, the JSON value of a message on
// TopicSegmentChanges (keyed by [SegmentChange.MessageKey], so the changes
// of one profile stay in order). Consumers deduplicate on Key.
type SegmentChange struct {
	// Key is the idempotency key, see [SegmentChangeKey].
	Key       string            `json:"key"`
	Workspace string            `json:"workspace"`
	SegmentID string            `json:"segmentId"`
	CDPID     string            `json:"cdpId"`
	Change    SegmentChangeKind `json:"change"`
	// Version names what caused the change, e.g. "p3@1042" (the partition
	// and offset of the event that changed the profile), a reconcile build
	// id, or the time of a periodic re-check of time-sensitive segments.
	Version string    `json:"version"`
	At      time.Time `json:"at"`
}

// MessageKey is the Kafka key of the change: "<workspace>/<cdp_id>".
func (c *SegmentChange) MessageKey() string { return c.Workspace + "/" + c.CDPID }

// SegmentChangeKey is the idempotency key of a change: the hex SHA-256 of
// "workspace|segment|cdp_id|enter or exit|version". Replaying the same
// input (same version) yields the same key, so consumers can drop repeats.
func SegmentChangeKey(workspace, segmentID, cdpID string, kind SegmentChangeKind, version string) string {
	h := sha256.New()
	for i, s := range []string{workspace, segmentID, cdpID, string(kind), version} {
		if i > 0 {
			h.Write([]byte{'|'})
		}
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// MemberOf returns the ids of the segments of workspace that the profile is
// a member of at now, sorted.
func MemberOf(segs []*Segment, workspace string, p ProfileView, now time.Time) []string {
	var ids []string
	for _, s := range segs {
		if s.Workspace == workspace && s.Evaluate(p, now) {
			ids = append(ids, s.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// DiffMembership compares a profile's segment ids before and after a change
// and returns one SegmentChange per segment entered or left, ordered by
// segment id. version and at are copied into every change (see
// [SegmentChange.Version]).
func DiffMembership(workspace, cdpID string, before, after []string, version string, at time.Time) []SegmentChange {
	old := make(map[string]bool, len(before))
	for _, id := range before {
		old[id] = true
	}
	cur := make(map[string]bool, len(after))
	for _, id := range after {
		cur[id] = true
	}
	var changes []SegmentChange
	add := func(id string, kind SegmentChangeKind) {
		changes = append(changes, SegmentChange{
			Key:       SegmentChangeKey(workspace, id, cdpID, kind, version),
			Workspace: workspace,
			SegmentID: id,
			CDPID:     cdpID,
			Change:    kind,
			Version:   version,
			At:        at,
		})
	}
	for id := range cur {
		if !old[id] {
			add(id, SegmentEnter)
		}
	}
	for id := range old {
		if !cur[id] {
			add(id, SegmentExit)
		}
	}
	slices.SortFunc(changes, func(a, b SegmentChange) int {
		if a.SegmentID != b.SegmentID {
			if a.SegmentID < b.SegmentID {
				return -1
			}
			return 1
		}
		if a.Change < b.Change {
			return -1
		} else if a.Change > b.Change {
			return 1
		}
		return 0
	})
	return changes
}
