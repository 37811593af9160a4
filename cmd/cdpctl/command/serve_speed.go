package command

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	cdp "github.com/tributary-cdp/tributary"
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
	sc.Segments.Reloadable = true // watchSegments
	sp, err := speed.New(sc)
	if err != nil {
		return nil, nil, err
	}
	api, err := activate.New(activate.Config{Keys: keys, Profiles: sp, Segments: sp.SegmentsOf, PhoneRegions: sc.Store.PhoneRegions})
	if err != nil {
		sp.Close()
		return nil, nil, err
	}
	api.Register(mux)
	return sp, api, nil
}

// segmentReloadInterval is how often serve looks for segments added or
// removed with `cdpctl segment add|remove` or in the config file.
const segmentReloadInterval = 2 * time.Second

// watchSegments hands the speed layer the segments in force whenever they
// change: the stored files (<data-dir>/segments) and the `segments:` of
// the config file (file, "" for none) are read again every interval; the
// rest of the config takes a restart. A file that does not load, or a
// config whose segments do not validate, keeps the segments as they
// were, with a warning.
func watchSegments(ctx context.Context, cfg config.Config, file string, sp *speed.Consumer, every time.Duration) error {
	key := func(segs []*cdp.Segment) string {
		b, _ := json.Marshal(segs)
		return string(b)
	}
	segs, err := loadSegments(cfg)
	if err != nil {
		return err // startSpeed loaded them a moment ago
	}
	last, lastErr := key(segs), ""
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		var err error
		if file != "" {
			cfg.Segments, err = configSegments(cfg, file)
		}
		if err == nil {
			segs, err = loadSegments(cfg)
		}
		if err != nil {
			if err.Error() != lastErr {
				slog.Warn("segments not reloaded: keeping the ones in force", "err", err)
				lastErr = err.Error()
			}
			continue
		}
		lastErr = ""
		if k := key(segs); k != last {
			if err := sp.SetSegments(ctx, segs); err != nil {
				return nil // ctx ended
			}
			slog.Info("segments in force changed", "segments", len(segs))
			last = k
		}
	}
}

// configSegments reads the segments of the config file again, checked
// against the running config (its workspaces); on an error cfg's stay.
func configSegments(cfg config.Config, file string) ([]cdp.Segment, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return cfg.Segments, fmt.Errorf("read config: %w", err)
	}
	fresh, err := config.Parse(b)
	if err != nil {
		return cfg.Segments, fmt.Errorf("%s: %w", file, err)
	}
	next := cfg
	next.Segments = fresh.Segments
	if err := next.Validate(); err != nil {
		return cfg.Segments, fmt.Errorf("%s: %w", file, err)
	}
	return fresh.Segments, nil
}
