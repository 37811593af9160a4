// Package reconcile hands a curated build to the speed layer: the batch
// side of the exact lambda merge.
//
// The handoff is a manifest the servers watch. Publish writes
// _meta/reconcile/request.json naming the curated build (its profiles and
// identity map files, and its watermark W: the per-partition Kafka offsets
// of the events it includes). Every `cdpctl serve` polls that object; on a
// new version it loads the build as its base, re-reads cdp.events from W to
// rebuild the deltas, swaps atomically, and acknowledges by writing
// _meta/reconcile/applied/<instance>.json. It works across processes and
// machines because the lake is the only thing the two sides share, and a
// server that was down loads the latest request when it starts.
package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tributary-cdp/tributary/lake"
)

// Keys of the handoff.
const (
	RequestKey    = lake.MetaPrefix + "reconcile/request.json"
	AppliedPrefix = lake.MetaPrefix + "reconcile/applied/"
	// ServersPrefix holds one heartbeat per running server
	// (servers/<instance>.json), written at every poll, so the reconcile
	// job knows whether anyone is there to wait for.
	ServersPrefix = lake.MetaPrefix + "reconcile/servers/"
)

// Heartbeat records that instance is alive and watching for requests.
// Servers call it at every poll.
func Heartbeat(ctx context.Context, st lake.Storage, instance string, now time.Time) error {
	b, _ := json.Marshal(map[string]any{"instance": instance, "seen_at": now.UTC()})
	return st.Put(ctx, ServersPrefix+sanitize(instance)+".json", bytes.NewReader(b))
}

// LiveServers counts the servers whose heartbeat is younger than within.
func LiveServers(ctx context.Context, st lake.Storage, now time.Time, within time.Duration) (int, error) {
	objs, err := st.List(ctx, ServersPrefix)
	if err != nil {
		return 0, fmt.Errorf("list reconcile servers: %w", err)
	}
	n := 0
	for _, o := range objs {
		b, err := lake.ReadObject(ctx, st, o.Key)
		if err != nil {
			continue
		}
		var hb struct {
			SeenAt time.Time `json:"seen_at"`
		}
		if json.Unmarshal(b, &hb) == nil && now.Sub(hb.SeenAt) < within {
			n++
		}
	}
	return n, nil
}

// Tables of a curated build.
const (
	TableProfiles    = "curated/profiles"
	TableIdentityMap = "curated/identity_map"
)

// Request names the build the speed layer must load.
type Request struct {
	// Version is the curated/profiles manifest version; it only grows.
	Version            int64           `json:"version"`
	IdentityMapVersion int64           `json:"identity_map_version"`
	Watermark          map[int32]int64 `json:"watermark"`
	Profiles           []lake.File     `json:"profiles"`
	IdentityMap        []lake.File     `json:"identity_map"`
	RequestedAt        time.Time       `json:"requested_at"`
	RunID              string          `json:"run_id,omitempty"`
}

// Applied is one server's acknowledgment of a request.
type Applied struct {
	Instance       string          `json:"instance"`
	Version        int64           `json:"version"`
	Watermark      map[int32]int64 `json:"watermark"`
	AppliedAt      time.Time       `json:"applied_at"`
	LoadSeconds    float64         `json:"load_seconds"`    // reading the base
	ReplaySeconds  float64         `json:"replay_seconds"`  // re-reading deltas from W
	SwapSeconds    float64         `json:"swap_seconds"`    // look-ups paused for this long
	BaseProfiles   int64           `json:"base_profiles"`   // profiles in the build
	ReplayedEvents int64           `json:"replayed_events"` // deltas applied over the base
	Profiles       int64           `json:"profiles"`        // profiles after the swap
	MemBeforeBytes int64           `json:"mem_before_bytes"`
	MemPeakBytes   int64           `json:"mem_peak_bytes"`
	MemAfterBytes  int64           `json:"mem_after_bytes"`
	Error          string          `json:"error,omitempty"`
}

// Publish writes the request for the latest curated build.
func Publish(ctx context.Context, st lake.Storage, runID string, now time.Time) (*Request, error) {
	pm, err := lake.LatestManifest(ctx, st, TableProfiles)
	if err != nil {
		return nil, fmt.Errorf("reconcile: read %s manifest: %w", TableProfiles, err)
	}
	if pm.Version == 0 {
		return nil, fmt.Errorf("reconcile: %s has no build; run the curate job first", TableProfiles)
	}
	im, err := lake.LatestManifest(ctx, st, TableIdentityMap)
	if err != nil {
		return nil, fmt.Errorf("reconcile: read %s manifest: %w", TableIdentityMap, err)
	}
	req := &Request{Version: pm.Version, IdentityMapVersion: im.Version, Watermark: pm.Offsets,
		Profiles: pm.Files, IdentityMap: im.Files, RequestedAt: now.UTC(), RunID: runID}
	b, err := json.MarshalIndent(req, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := st.Put(ctx, RequestKey, bytes.NewReader(b)); err != nil {
		return nil, fmt.Errorf("reconcile: publish request: %w", err)
	}
	return req, nil
}

// ReadRequest returns the current request; (nil, nil) when there is none.
func ReadRequest(ctx context.Context, st lake.Storage) (*Request, error) {
	b, err := lake.ReadObject(ctx, st, RequestKey)
	if err != nil {
		if lake.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read reconcile request: %w", err)
	}
	var r Request
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode %s: %w", RequestKey, err)
	}
	return &r, nil
}

// Acknowledge records that instance applied (or failed to apply) a request.
func Acknowledge(ctx context.Context, st lake.Storage, a Applied) error {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	key := AppliedPrefix + sanitize(a.Instance) + ".json"
	if err := st.Put(ctx, key, bytes.NewReader(b)); err != nil {
		return fmt.Errorf("acknowledge reconcile: %w", err)
	}
	return nil
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}

// Acks lists every instance's latest acknowledgment.
func Acks(ctx context.Context, st lake.Storage) ([]Applied, error) {
	objs, err := st.List(ctx, AppliedPrefix)
	if err != nil {
		return nil, fmt.Errorf("list reconcile acks: %w", err)
	}
	var out []Applied
	for _, o := range objs {
		b, err := lake.ReadObject(ctx, st, o.Key)
		if err != nil {
			continue
		}
		var a Applied
		if json.Unmarshal(b, &a) == nil {
			out = append(out, a)
		}
	}
	return out, nil
}

// Wait returns the acknowledgments of version once at least one server
// applied it, or what it has when timeout passes (possibly none: no server
// is running, and the next one to start loads the build).
func Wait(ctx context.Context, st lake.Storage, version int64, since time.Time, timeout time.Duration) ([]Applied, error) {
	deadline := time.Now().Add(timeout)
	for {
		acks, err := Acks(ctx, st)
		if err != nil {
			return nil, err
		}
		var done []Applied
		for _, a := range acks {
			if a.Version >= version && !a.AppliedAt.Before(since.Add(-time.Second)) {
				done = append(done, a)
			}
		}
		if len(done) > 0 || time.Now().After(deadline) {
			return done, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
