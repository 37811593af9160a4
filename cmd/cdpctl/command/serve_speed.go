package command

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-cdp/tributary/identity"
	"github.com/tributary-cdp/tributary/internal/auth"
	"github.com/tributary-cdp/tributary/internal/config"
	"github.com/tributary-cdp/tributary/speed"
	"github.com/tributary-cdp/tributary/speed/activate"
)

// speedConfig maps tributary.yaml's speed section to the consumer's config.
func speedConfig(cfg config.Config, brokers []string, reg prometheus.Registerer) speed.Config {
	sc := speed.DefaultConfig()
	sc.Brokers = brokers
	sc.Dir = filepath.Join(cfg.DataDir, "speed")
	sc.Registerer = reg
	sc.CheckpointInterval = cfg.Speed.CheckpointInterval
	st := &sc.Store
	st.Blocklist, st.Allow, st.PhoneRegions = cfg.Speed.Blocklist, cfg.Speed.Allow, cfg.PhoneRegions()
	st.Caps = cfg.Speed.Caps
	st.IdentifierTraits = cfg.Speed.IdentifierTraits
	st.RecentEvents = cfg.Speed.RecentEvents
	st.DedupeWindow = cfg.Speed.DedupeWindow
	st.DedupeMaxEntries = cfg.Speed.DedupeMaxEntries
	st.CheckpointDeltas = cfg.Speed.CheckpointDeltas
	return sc
}

// startSpeed loads the speed layer's checkpoint and mounts the activation
// API on mux; the API is returned for the activation listener.
func startSpeed(cfg config.Config, brokers []string, reg prometheus.Registerer, keys *auth.Keys, mux *http.ServeMux) (*speed.Consumer, *activate.API, error) {
	sc := speedConfig(cfg, brokers, reg)
	segs, err := loadSegments(cfg)
	if err != nil {
		return nil, nil, err
	}
	sc.Segments.Segments = segs
	sc.Segments.Reloadable = true // watchConfig
	sp, err := speed.New(sc)
	if err != nil {
		return nil, nil, err
	}
	api, err := activate.New(activate.Config{Keys: keys, Profiles: sp, Segments: sp.SegmentsOf, PhoneRegions: sc.Store.PhoneRegions,
		Blocklist: identity.Junk(sc.Store.Blocklist, sc.Store.Allow)})
	if err != nil {
		sp.Close()
		return nil, nil, err
	}
	api.Register(mux)
	return sp, api, nil
}

// reloadInterval is how often serve looks for segments added or removed
// with `cdpctl segment add|remove` or in the config file, and for keys
// changed in the config file.
const reloadInterval = 2 * time.Second

// watchConfig applies what serve takes from the config without a restart,
// read again every interval. The workspaces' write and API keys: a key
// removed from the config file stops authenticating, a new one starts.
// The segments: the stored files (<data-dir>/segments) and the config
// file's `segments:` are handed to the speed layer (nil with
// --collector-only: keys alone) whenever they change. file is the config
// file ("" for none). The rest of the config takes a restart. A config
// file that does not validate changes nothing; a segment file that does
// not load keeps the segments as they were; both with a warning.
func watchConfig(ctx context.Context, cfg config.Config, file string, keys *auth.Keys, sp *speed.Consumer, every time.Duration) error {
	key := func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	}
	var lastSegs string
	if sp != nil {
		segs, err := loadSegments(cfg)
		if err != nil {
			return err // startSpeed loaded them a moment ago
		}
		lastSegs = key(segs)
	}
	lastErr := ""
	warn := func(msg string, err error) {
		if err.Error() != lastErr {
			slog.Warn(msg, "err", err)
			lastErr = err.Error()
		}
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if file != "" {
			fresh, err := rereadConfig(file)
			if err != nil {
				warn("config not reloaded: keeping the keys and segments in force", err)
				continue
			}
			if !reflect.DeepEqual(fresh.Workspaces, cfg.Workspaces) { // JSON leaves the keys out
				keys.Set(fresh.Workspaces)
				slog.Info("keys in force changed", "workspaces", len(fresh.Workspaces))
			}
			cfg.Workspaces, cfg.Segments = fresh.Workspaces, fresh.Segments
		}
		if sp == nil {
			lastErr = ""
			continue
		}
		segs, err := loadSegments(cfg)
		if err != nil {
			warn("segments not reloaded: keeping the ones in force", err)
			continue
		}
		lastErr = ""
		if k := key(segs); k != lastSegs {
			if err := sp.SetSegments(ctx, segs); err != nil {
				return nil // ctx ended
			}
			slog.Info("segments in force changed", "segments", len(segs))
			lastSegs = k
		}
	}
}

// rereadConfig reads the config file again; it validates whole, its
// segments against its own workspaces.
func rereadConfig(file string) (config.Config, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return config.Config{}, fmt.Errorf("read config: %w", err)
	}
	fresh, err := config.Parse(b)
	if err != nil {
		return config.Config{}, fmt.Errorf("%s: %w", file, err)
	}
	return fresh, nil
}
