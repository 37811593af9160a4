package activate

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// ServeFast is the fasthttp adapter of Serve: the same routes, statuses,
// bodies and headers (Content-Type, Content-Length, Cache-Control) as
// Register's, without net/http's allocations per request.
func (a *API) ServeFast(ctx *fasthttp.RequestCtx) {
	uri := ctx.Request.Header.RequestURI()
	path, query := uri, []byte(nil)
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		path, query = uri[:i], uri[i+1:]
	}
	bp := a.getBuf()
	// The views of the request's buffers live only through Serve, which
	// retains nothing of them.
	body, status := a.Serve((*bp)[:0], view(ctx.Method()), view(path), view(query), view(ctx.Request.Header.Peek("Authorization")))
	ctx.SetStatusCode(status)
	ctx.SetContentType(ContentType)
	switch status {
	case http.StatusOK:
		ctx.Response.Header.Set("Cache-Control", "no-store")
	case http.StatusMethodNotAllowed:
		ctx.Response.Header.Set("Allow", "GET, HEAD")
	}
	ctx.SetBody(body) // copied into the response's pooled buffer
	*bp = body
	a.putBuf(bp)
}

// view is b as a string without a copy; b must not change while it is used.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// FastServer is the activation listener's server: look-ups only, with
// limits for a GET API (a request has no body worth reading, and an idle
// or slow client does not hold a connection open for long).
func (a *API) FastServer() *fasthttp.Server {
	return &fasthttp.Server{
		Handler:                      a.ServeFast,
		Name:                         "",
		NoDefaultServerHeader:        true,
		ReadTimeout:                  10 * time.Second,
		WriteTimeout:                 10 * time.Second,
		IdleTimeout:                  2 * time.Minute,
		MaxRequestBodySize:           4 << 10,
		ReadBufferSize:               8 << 10, // bounds the request head, as net/http's 1 MB does on the main port
		StreamRequestBody:            false,
		DisablePreParseMultipartForm: true,
		CloseOnShutdown:              true,
		Logger:                       fastLogger{},
	}
}

// fastLogger sends fasthttp's messages (connection errors) to slog at debug.
type fastLogger struct{}

func (fastLogger) Printf(format string, args ...any) {
	if slog.Default().Enabled(context.Background(), slog.LevelDebug) {
		slog.Debug("activation listener: " + fmt.Sprintf(format, args...))
	}
}
