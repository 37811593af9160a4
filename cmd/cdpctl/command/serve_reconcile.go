package command

import (
	"context"
	"os"
	"time"

	"github.com/tributary-cdp/tributary/batch/reconcile"
	"github.com/tributary-cdp/tributary/internal/config"
	"github.com/tributary-cdp/tributary/lake"
	"github.com/tributary-cdp/tributary/speed"
)

// reconcileSource adapts the lake handoff of package batch/reconcile (the
// request the reconcile job publishes, the servers' heartbeats and
// acknowledgments) to the speed layer's BuildSource.
type reconcileSource struct {
	lake     lake.Storage
	instance string
}

func (r *reconcileSource) Latest(ctx context.Context) (*speed.Build, error) {
	if err := reconcile.Heartbeat(ctx, r.lake, r.instance, time.Now()); err != nil {
		return nil, err
	}
	req, err := reconcile.ReadRequest(ctx, r.lake)
	if err != nil || req == nil {
		return nil, err
	}
	return &speed.Build{Version: req.Version, Watermark: req.Watermark, Profiles: req.Profiles,
		IdentityMap: req.IdentityMap, RequestedAt: req.RequestedAt}, nil
}

func (r *reconcileSource) Acknowledge(ctx context.Context, rep speed.ReconcileReport) error {
	a := reconcile.Applied{
		Instance: r.instance, Version: rep.Version, Watermark: rep.Watermark, AppliedAt: rep.AppliedAt,
		LoadSeconds: rep.Load.Seconds(), ReplaySeconds: rep.Replay.Seconds(), SwapSeconds: rep.Swap.Seconds(),
		BaseProfiles: rep.BaseProfiles, ReplayedEvents: rep.ReplayedEvents, Profiles: rep.Profiles,
		MemBeforeBytes: rep.MemBeforeBytes, MemPeakBytes: rep.MemPeakBytes, MemAfterBytes: rep.MemAfterBytes,
	}
	if rep.Err != nil {
		a.Error = rep.Err.Error()
	}
	return reconcile.Acknowledge(ctx, r.lake, a)
}

// startReconciler opens the lake and returns the component that swaps
// curated builds into sp; httpAddr names this server in acknowledgments.
func startReconciler(ctx context.Context, cfg config.Config, brokers []string, sp *speed.Consumer, httpAddr string) (*speed.Reconciler, error) {
	env, err := openJobEnv(ctx, cfg, brokers)
	if err != nil {
		return nil, err
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	rc := speed.DefaultReconcilerConfig()
	rc.Lake, rc.Source = env.lake, &reconcileSource{lake: env.lake, instance: host + "-" + httpAddr}
	return speed.NewReconciler(sp, rc)
}
