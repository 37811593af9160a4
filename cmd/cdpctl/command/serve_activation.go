package command

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tributary-cdp/tributary/speed/activate"
)

// activationListener serves the activation look-ups alone on
// http.activation_addr, in activate.Loop's event loops: activation
// systems get their answers without net/http's per-request work and
// garbage nor the scheduler's wake-ups, and apart from the collector's
// traffic on the main port.
type activationListener struct {
	ln   net.Listener
	loop *activate.Loop
	addr string // bound
}

func listenActivation(addr string, api *activate.API) (*activationListener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (http.activation_addr): %w", addr, err)
	}
	loop, err := api.NewLoop(ln, activate.DefaultLoopConfig())
	if err != nil {
		ln.Close()
		return nil, err
	}
	slog.Info("activation look-ups listening", "addr", ln.Addr().String())
	if advice := vmIdleAdvice(os.DirFS("/sys")); advice != "" {
		slog.Warn(advice)
	}
	return &activationListener{ln: ln, loop: loop, addr: ln.Addr().String()}, nil
}

// vmIdleAdvice says so when this machine is a VM guest whose idle CPUs
// halt at once (the haltpoll cpuidle driver with guest_halt_poll_ns=0):
// each look-up that finds its vCPU halted then waits for the host to run
// it again, which on a busy host puts milliseconds on the p99 whatever
// the server does (docs/BENCHMARKS.md, speed layer). sys is /sys.
func vmIdleAdvice(sys fs.FS) string {
	driver, err := fs.ReadFile(sys, "devices/system/cpu/cpuidle/current_driver")
	if err != nil || strings.TrimSpace(string(driver)) != "haltpoll" {
		return ""
	}
	ns, err := fs.ReadFile(sys, "module/haltpoll/parameters/guest_halt_poll_ns")
	if err != nil || strings.TrimSpace(string(ns)) != "0" {
		return ""
	}
	return "idle vCPUs halt at once (haltpoll, guest_halt_poll_ns=0): activation look-ups that wake one wait for the host, " +
		"milliseconds at p99 on a busy host; for a latency target set /sys/module/haltpoll/parameters/guest_halt_poll_ns (e.g. 200000)"
}

// serve serves until gctx ends, then shuts down gracefully: stop
// accepting, let in-flight look-ups finish, close idle connections. A
// nil listener does nothing.
func (a *activationListener) serve(g *errgroup.Group, gctx context.Context) {
	if a == nil {
		return
	}
	g.Go(func() error {
		if err := a.loop.Run(); err != nil {
			return fmt.Errorf("serve activation look-ups: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		err := a.loop.Close(sctx) // Run returns at once if it had not started
		a.ln.Close()
		if err != nil {
			return fmt.Errorf("shut down activation look-ups: %w", err)
		}
		return nil
	})
}

// close releases the listener when serve was never called.
func (a *activationListener) close() {
	if a != nil {
		_ = a.loop.Close(context.Background())
		a.ln.Close()
	}
}
