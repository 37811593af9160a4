package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/internal/auth"
	"github.com/tributary-cdp/tributary/internal/broker"
	"github.com/tributary-cdp/tributary/internal/config"
	"github.com/tributary-cdp/tributary/internal/gcpace"
	"github.com/tributary-cdp/tributary/internal/httpx"
	"github.com/tributary-cdp/tributary/internal/topics"
	"github.com/tributary-cdp/tributary/jobs"
	"github.com/tributary-cdp/tributary/speed"
	"github.com/tributary-cdp/tributary/speed/collect"
)

type serveOptions struct {
	httpAddr       string
	activationAddr string
	embeddedAddr   string
	collectorOnly  bool
}

func newServeCmd(g *globalOptions) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the collector, the speed layer, the activation API and scheduled jobs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load(cmd)
			if err != nil {
				return err
			}
			if o.httpAddr != "" {
				cfg.HTTP.Addr = o.httpAddr
			}
			if o.activationAddr != "" {
				cfg.HTTP.ActivationAddr = o.activationAddr
			}
			if o.embeddedAddr != "" {
				cfg.Kafka.EmbeddedAddr = o.embeddedAddr
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			s := &server{cfg: cfg, configFile: g.loadedFrom, collectorOnly: o.collectorOnly}
			defer s.Close()
			return s.Run(ctx, func(httpAddr string) {
				fmt.Fprintf(cmd.OutOrStdout(), "listening on http://%s\n", httpAddr)
				if s.activation != nil {
					fmt.Fprintf(cmd.OutOrStdout(), "activation look-ups on http://%s\n", s.activation.addr)
				}
			})
		},
	}
	cmd.Flags().StringVar(&o.httpAddr, "http", "", "HTTP listen address (default from config, 127.0.0.1:8080)")
	cmd.Flags().StringVar(&o.activationAddr, "activation-addr", "", "listen address of the activation look-ups alone, served in event loops (default from config http.activation_addr; empty: none)")
	cmd.Flags().StringVar(&o.embeddedAddr, "embedded-broker-addr", "", "listen address of the embedded broker (default from config, 127.0.0.1:9092)")
	cmd.Flags().BoolVar(&o.collectorOnly, "collector-only", false, "run only the collector (an ingestion tier scaled apart from the speed layer and jobs)")
	return cmd
}

// server wires every long-lived component of `cdpctl serve`.
type server struct {
	cfg config.Config
	// configFile is where cfg came from ("" for the defaults): its
	// keys and segments are read again while serving (watchConfig).
	configFile string
	broker     *broker.Broker
	collector  *collect.Collector
	speed      *speed.Consumer
	// ready says when the speed layer has caught up after a start; nil
	// with --collector-only.
	ready *speed.Readiness
	http  *http.Server
	// activation serves the look-ups alone on http.activation_addr; nil
	// when that is not set.
	activation *activationListener
	// collectorOnly runs the collector without the speed layer and jobs.
	collectorOnly bool
	scheduler     *jobs.Scheduler // cron jobs from jobs.schedules; nil when none
	// locks are the data dir's directories this server writes alone.
	locks []*dirLock
}

// Run starts everything and blocks until ctx ends or a component fails.
// ready is called with the bound HTTP address once the server accepts requests.
func (s *server) Run(ctx context.Context, ready func(httpAddr string)) error {
	brokers := s.cfg.Brokers()
	if s.cfg.Embedded() {
		dir := filepath.Join(s.cfg.DataDir, "kafka")
		if err := s.lock(dir, "embedded broker"); err != nil {
			return err
		}
		b, err := startEmbedded(s.cfg.Kafka.EmbeddedAddr, dir, s.cfg.Kafka.Partitions, s.cfg.Kafka.SyncWrites)
		if err != nil {
			return err
		}
		s.broker = b
		brokers = []string{b.Addr()}
	} else {
		if err := topics.Ensure(ctx, brokers, topics.Defaults(s.cfg.Kafka.Partitions, s.cfg.Kafka.ReplicationFactor)); err != nil {
			return err
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	keys := auth.NewKeys(s.cfg.Workspaces)

	ccfg := collect.DefaultConfig()
	ccfg.Brokers = brokers
	ccfg.Keys = keys
	ccfg.Registerer = reg
	if o := s.cfg.HTTP.CORSOrigins; o != nil {
		ccfg.CORSOrigins = o
	}
	col, err := collect.New(ccfg)
	if err != nil {
		return err
	}
	s.collector = col

	mux := http.NewServeMux()
	col.Register(mux)
	if s.collectorOnly {
		return s.serveCollectorOnly(ctx, mux, reg, brokers, keys, ready)
	}
	if err := s.lock(filepath.Join(s.cfg.DataDir, "speed"), "speed layer"); err != nil {
		return err
	}
	sp, api, err := startSpeed(s.cfg, brokers, reg, keys, mux)
	if err != nil {
		return err
	}
	// The process's GC pacing is the speed layer's: its store is the live heap.
	defer gcpace.Start(uint64(s.cfg.Speed.GCHeadroomMiB) << 20).Stop()
	s.speed = sp
	s.ready = speed.NewReadiness(sp)
	if a := s.cfg.HTTP.ActivationAddr; a != "" {
		if s.activation, err = listenActivation(a, api); err != nil {
			return err
		}
	}
	ln, err := s.listen(mux, api.Handler(mux), reg, brokers)
	if err != nil {
		s.activation.close()
		return err
	}

	if s.scheduler, err = startScheduler(ctx, s.cfg, brokers); err != nil {
		ln.Close()
		s.activation.close()
		return err
	}
	rec, err := startReconciler(ctx, s.cfg, brokers, sp, ln.Addr().String())
	if err != nil {
		ln.Close()
		s.activation.close()
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.scheduler.Run(gctx) })
	g.Go(func() error { return sp.Run(gctx) })      // final checkpoint when gctx ends
	g.Go(func() error { return s.ready.Run(gctx) }) // end offsets at start, for /readyz
	g.Go(func() error { return rec.Run(gctx) })     // swaps in curated builds (reconcile job)
	g.Go(func() error { return watchConfig(gctx, s.cfg, s.configFile, keys, sp, reloadInterval) })
	s.activation.serve(g, gctx)
	s.serveHTTP(g, gctx, ln)
	if ready != nil {
		ready(ln.Addr().String())
	}
	return g.Wait()
}

// listen mounts the operations endpoints on mux and binds the HTTP
// address, to serve h: mux, or mux in the activation API's Handler.
func (s *server) listen(mux *http.ServeMux, h http.Handler, reg *prometheus.Registry, brokers []string) (net.Listener, error) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		pctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := topics.Ping(pctx, brokers); err != nil {
			httpx.WriteError(w, http.StatusServiceUnavailable, "broker_unavailable", "Kafka does not answer: "+err.Error())
			return
		}
		if s.ready != nil {
			if ok, behind := s.ready.Ready(); !ok {
				msg := "the speed layer is reading the broker's end offsets"
				if behind >= 0 {
					msg = fmt.Sprintf("the speed layer is catching up: %d of the messages in %s at start are still to apply", behind, cdp.TopicEvents)
				}
				httpx.WriteError(w, http.StatusServiceUnavailable, "speed_catching_up", msg)
				return
			}
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"status": "ready"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	ln, err := net.Listen("tcp", s.cfg.HTTP.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", s.cfg.HTTP.Addr, err)
	}
	s.http = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	slog.Info("HTTP listening", "addr", ln.Addr().String(), "brokers", brokers, "lake", s.cfg.LakeURL(), "collector_only", s.collectorOnly)
	return ln, nil
}

// serveHTTP serves until gctx ends, then shuts down gracefully: stop
// accepting, let in-flight requests finish (they wait for their acks),
// then flush and close the producers.
func (s *server) serveHTTP(g *errgroup.Group, gctx context.Context, ln net.Listener) {
	g.Go(func() error {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve HTTP: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		err := s.http.Shutdown(sctx)
		s.collector.Close()
		slog.Info("server stopped")
		return err
	})
}

// serveCollectorOnly runs the collector alone: an ingestion tier scaled
// apart from the speed layer and the jobs.
func (s *server) serveCollectorOnly(ctx context.Context, mux *http.ServeMux, reg *prometheus.Registry, brokers []string, keys *auth.Keys, ready func(string)) error {
	if s.cfg.HTTP.ActivationAddr != "" {
		slog.Warn("http.activation_addr is not served with --collector-only: there is no speed layer to look profiles up in", "addr", s.cfg.HTTP.ActivationAddr)
	}
	ln, err := s.listen(mux, mux, reg, brokers)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return watchConfig(gctx, s.cfg, s.configFile, keys, nil, reloadInterval) })
	s.serveHTTP(g, gctx, ln)
	if ready != nil {
		ready(ln.Addr().String())
	}
	return g.Wait()
}

// lock takes the lock of dir for what until Close.
func (s *server) lock(dir, what string) error {
	l, err := lockDir(dir, what)
	if err != nil {
		return err
	}
	s.locks = append(s.locks, l)
	return nil
}

// Close releases what Run started; it is idempotent.
func (s *server) Close() {
	if s.collector != nil {
		s.collector.Close()
	}
	if s.speed != nil {
		s.speed.Close()
	}
	if s.broker != nil {
		s.broker.Close()
		s.broker = nil
	}
	for _, l := range s.locks {
		l.release()
	}
}
