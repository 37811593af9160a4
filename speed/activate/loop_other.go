//go:build !linux

package activate

import (
	"context"
	"errors"
	"net"

	"github.com/valyala/fasthttp"
)

// Loop is FastServer where there is no epoll for the event loops of
// loop_linux.go.
type Loop struct {
	srv *fasthttp.Server
	ln  net.Listener
}

// NewLoop serves on ln once Run is called.
func (a *API) NewLoop(ln net.Listener, cfg LoopConfig) (*Loop, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	srv := a.FastServer()
	srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout = cfg.ReadTimeout, cfg.WriteTimeout, cfg.IdleTimeout
	srv.ReadBufferSize, srv.MaxRequestBodySize = cfg.MaxRequest, cfg.MaxRequest
	return &Loop{srv: srv, ln: ln}, nil
}

// Run serves until Close.
func (l *Loop) Run() error {
	if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// Close shuts the server down gracefully, at most until ctx ends.
func (l *Loop) Close(ctx context.Context) error { return l.srv.ShutdownWithContext(ctx) }
