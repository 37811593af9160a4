package command

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
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
	st.Blocklist = cfg.Speed.Blocklist
	st.Caps = cfg.Speed.Caps
	st.IdentifierTraits = cfg.Speed.IdentifierTraits
	st.RecentEvents = cfg.Speed.RecentEvents
	st.DedupeWindow = cfg.Speed.DedupeWindow
	st.DedupeMaxEntries = cfg.Speed.DedupeMaxEntries
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
	api, err := activate.New(activate.Config{Keys: keys, Profiles: sp, Segments: sp.SegmentsOf})
	if err != nil {
		sp.Close()
		return nil, nil, err
	}
	api.Register(mux)
	return sp, api, nil
}

// segmentReloadInterval is how often serve looks for segments added or
// removed with `cdpctl segment add|remove`.
const segmentReloadInterval = 2 * time.Second

// watchSegments hands the speed layer the segments in force whenever they
// change: the stored files (<data-dir>/segments) are read again every
// interval; the config file's segments are the ones read at start. A file
// that does not load keeps the segments as they were, with a warning.
func watchSegments(ctx context.Context, cfg config.Config, sp *speed.Consumer, every time.Duration) error {
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
		segs, err := loadSegments(cfg)
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
			last = k
		}
	}
}
