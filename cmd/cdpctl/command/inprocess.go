package command

import (
	"context"

	"github.com/tributary-cdp/tributary/internal/config"
)

// running is a server started inside this process (demo, benchmarks).
type running struct {
	*server
	URL    string // http://host:port
	cancel context.CancelFunc
	done   chan error
}

// startInProcess runs `serve` for cfg in the background and returns once
// it accepts requests.
func startInProcess(ctx context.Context, cfg config.Config) (*running, error) {
	return startServer(ctx, &server{cfg: cfg})
}

// startServer runs s in the background and returns once it accepts requests.
func startServer(ctx context.Context, s *server) (*running, error) {
	sctx, cancel := context.WithCancel(ctx)
	r := &running{server: s, cancel: cancel, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() { r.done <- s.Run(sctx, func(a string) { addr <- a }) }()
	select {
	case a := <-addr:
		r.URL = "http://" + a
		return r, nil
	case err := <-r.done:
		cancel()
		s.Close()
		return nil, err
	}
}

// Stop shuts the server down gracefully and returns its error.
func (r *running) Stop() error {
	r.cancel()
	err := <-r.done
	r.server.Close()
	return err
}
