package command

import (
	"net/http"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

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

// startSpeed loads the speed layer's checkpoint and mounts the activation API.
func startSpeed(cfg config.Config, brokers []string, reg prometheus.Registerer, keys *auth.Keys, mux *http.ServeMux) (*speed.Consumer, error) {
	sc := speedConfig(cfg, brokers, reg)
	segs, err := loadSegments(cfg)
	if err != nil {
		return nil, err
	}
	sc.Segments.Segments = segs
	sp, err := speed.New(sc)
	if err != nil {
		return nil, err
	}
	api, err := activate.New(activate.Config{Keys: keys, Profiles: sp, Segments: sp.SegmentsOf})
	if err != nil {
		return nil, err
	}
	api.Register(mux)
	return sp, nil
}
