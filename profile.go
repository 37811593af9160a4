package cdp

import "time"

// ProfileView is what segment rules may look at in a profile. The speed
// layer's in-memory profiles and the batch layer's golden profiles both
// implement it, so one segment definition means the same in both layers.
type ProfileView interface {
	// Trait returns a trait value as decoded from JSON (string, float64, bool, nil, map, slice).
	Trait(name string) (any, bool)
	// Computed returns a computed trait: events_total, page_views, first_seen,
	// last_seen, revenue_total, orders_total, … (numbers as float64, times as time.Time).
	Computed(name string) (any, bool)
	// HasIdentifier reports whether the profile has an identifier of the type.
	HasIdentifier(typ string) bool
	// EventCountSince counts track events named name with timestamp ≥ since.
	EventCountSince(name string, since time.Time) int
}
