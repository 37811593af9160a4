package command

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
)

// benchHTTPLoadOptions drive the look-up load generator that `bench speed`
// runs as a separate process, as it runs redis-benchmark: in the server's
// process the generator's goroutines would stop in the server's GC pauses
// and share its scheduler, and their delays would be counted as the
// server's latency.
type benchHTTPLoadOptions struct {
	addr     string
	apiKey   string
	paths    string
	conns    int
	rate     int
	duration time.Duration
	seed     uint64
}

// httpLoadResult is the generator's one line of JSON output. Latencies are
// in nanoseconds; in the open loop they count from each request's
// scheduled send time, so time spent queued behind a slow response counts.
type httpLoadResult struct {
	Conns    int     `json:"conns"`
	Rate     int     `json:"rate"` // requests/s scheduled; 0 in the closed loop
	Requests int64   `json:"requests"`
	Seconds  float64 `json:"seconds"`
	RPS      float64 `json:"rps"`
	P50      int64   `json:"p50_ns"`
	P90      int64   `json:"p90_ns"`
	P99      int64   `json:"p99_ns"`
	P999     int64   `json:"p999_ns"`
	Max      int64   `json:"max_ns"`
	// WakeP99 is the 99th percentile of how late a connection that was
	// idle woke for its next send: the generator's own error, included in
	// the latencies above.
	WakeP99 int64 `json:"wake_p99_ns"`
	// CPU is the generator process's CPU time, set by runHTTPLoad: what
	// it took of the cores the server runs on.
	CPU time.Duration `json:"-"`
}

func newBenchHTTPLoadCmd() *cobra.Command {
	o := &benchHTTPLoadOptions{}
	cmd := &cobra.Command{
		Use:    "http-load",
		Short:  "Look-up load generator for bench speed (closed loop, or open loop at --rate)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := o.run()
			if err != nil {
				return err
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "", "host:port of the activation API")
	f.StringVar(&o.apiKey, "api-key", "", "API key sent as Authorization: Bearer")
	f.StringVar(&o.paths, "paths", "", "file of request paths, one a line, picked at random")
	f.IntVar(&o.conns, "conns", 50, "keep-alive connections, one request in flight on each")
	f.IntVar(&o.rate, "rate", 0, "open loop: requests per second over all connections (0: closed loop)")
	f.DurationVar(&o.duration, "duration", 5*time.Second, "length of the run")
	f.Uint64Var(&o.seed, "seed", 1, "seed of the path choice")
	return cmd
}

func (o *benchHTTPLoadOptions) validate() error {
	switch {
	case o.addr == "" || o.apiKey == "" || o.paths == "":
		return errors.New("http-load: --addr, --api-key and --paths are required")
	case o.conns < 1:
		return fmt.Errorf("http-load: --conns %d must be at least 1", o.conns)
	case o.rate < 0:
		return fmt.Errorf("http-load: --rate %d must not be negative", o.rate)
	case o.duration <= 0:
		return fmt.Errorf("http-load: --duration %s must be positive", o.duration)
	}
	return nil
}

func (o *benchHTTPLoadOptions) run() (*httpLoadResult, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(o.paths)
	if err != nil {
		return nil, err
	}
	paths := strings.Fields(string(b))
	if len(paths) == 0 {
		return nil, fmt.Errorf("http-load: no paths in %s", o.paths)
	}
	conns := make([]*rawHTTP, o.conns)
	for i := range conns {
		if conns[i], err = dialRawHTTP(o.addr, o.apiKey); err != nil {
			return nil, err
		}
		defer conns[i].Close()
	}
	if o.rate == 0 {
		return o.closedLoop(conns, paths)
	}
	return o.openLoop(conns, paths)
}

// closedLoop sends the next request on each connection as soon as the
// last is answered: the maximum rate at this many connections.
func (o *benchHTTPLoadOptions) closedLoop(conns []*rawHTTP, paths []string) (*httpLoadResult, error) {
	lats := make([][]time.Duration, len(conns))
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	start := time.Now()
	stop := start.Add(o.duration)
	for i, hc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(o.seed, uint64(i)))
			for t := time.Now(); t.Before(stop); {
				if err := hc.get(paths[rng.IntN(len(paths))]); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				done := time.Now()
				lats[i] = append(lats[i], done.Sub(t))
				t = done
			}
		}()
	}
	wg.Wait()
	if err := firstErr.Load(); err != nil {
		return nil, *err
	}
	return o.result(0, time.Since(start), slices.Concat(lats...), nil), nil
}

// openLoop sends at a fixed rate whatever the answers: request k goes out
// at begin + k/rate on connection k mod conns (each connection has its own
// schedule, as in wrk2, so no channel hand-off adds delay). Its latency
// counts from that scheduled time: a connection still waiting for an
// answer sends late, and the wait is counted (no coordinated omission).
func (o *benchHTTPLoadOptions) openLoop(conns []*rawHTTP, paths []string) (*httpLoadResult, error) {
	total := int(float64(o.rate) * o.duration.Seconds())
	interval := float64(time.Second) / float64(o.rate)
	lats := make([][]time.Duration, len(conns))
	wakes := make([][]time.Duration, len(conns))
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	begin := time.Now().Add(20 * time.Millisecond)
	for i, hc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(o.seed, uint64(i)))
			for k := i; k < total; k += len(conns) {
				at := begin.Add(time.Duration(float64(k) * interval))
				if time.Until(at) > 0 {
					sleepUntil(at)
					wakes[i] = append(wakes[i], time.Since(at))
				}
				if err := hc.get(paths[rng.IntN(len(paths))]); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				lats[i] = append(lats[i], time.Since(at))
			}
		}()
	}
	wg.Wait()
	if err := firstErr.Load(); err != nil {
		return nil, *err
	}
	return o.result(o.rate, time.Since(begin), slices.Concat(lats...), slices.Concat(wakes...)), nil
}

func (o *benchHTTPLoadOptions) result(rate int, took time.Duration, lat, wakes []time.Duration) *httpLoadResult {
	slices.Sort(lat)
	slices.Sort(wakes)
	r := &httpLoadResult{Conns: o.conns, Rate: rate, Requests: int64(len(lat)), Seconds: took.Seconds(),
		RPS: float64(len(lat)) / took.Seconds(), P50: int64(q(lat, .5)), P90: int64(q(lat, .9)), P99: int64(q(lat, .99)),
		P999: int64(q(lat, .999)), WakeP99: int64(q(wakes, .99))}
	if len(lat) > 0 {
		r.Max = int64(lat[len(lat)-1])
	}
	return r
}

// rawHTTP is a minimal HTTP/1.1 keep-alive client for GETs answered with
// a Content-Length body: lean, so the generator takes little of the cores
// the server runs on (redis-benchmark's C client is lean too; net/http's
// client costs about as much as the server).
type rawHTTP struct {
	conn net.Conn
	r    *bufio.Reader
	req  []byte
	auth string
}

func dialRawHTTP(addr, apiKey string) (*rawHTTP, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &rawHTTP{conn: c, r: bufio.NewReaderSize(c, 64<<10), auth: "Authorization: Bearer " + apiKey + "\r\n"}, nil
}

func (h *rawHTTP) Close() error { return h.conn.Close() }

// get sends one look-up and reads the answer, which must be 200 with a
// profile document ({"cdp_id":…}).
func (h *rawHTTP) get(path string) error {
	h.req = append(h.req[:0], "GET "...)
	h.req = append(h.req, path...)
	h.req = append(h.req, " HTTP/1.1\r\nHost: bench\r\n"...)
	h.req = append(h.req, h.auth...)
	h.req = append(h.req, "\r\n"...)
	if _, err := h.conn.Write(h.req); err != nil {
		return err
	}
	status, err := h.r.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(status, []byte("HTTP/1.1 200")) {
		return fmt.Errorf("look-up %s: %s", path, bytes.TrimSpace(status))
	}
	n := -1
	for {
		line, err := h.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if n < 0 {
		return errors.New("look-up: response without Content-Length")
	}
	if n <= h.r.Size() {
		body, err := h.r.Peek(n)
		if err != nil {
			return err
		}
		if !bytes.HasPrefix(body, []byte(`{"cdp_id":"`)) || !bytes.HasSuffix(body, []byte("}\n")) {
			return fmt.Errorf("look-up %s: not a profile document: %.80q", path, body)
		}
	}
	_, err = h.r.Discard(n)
	return err
}

// runHTTPLoad runs `cdpctl bench http-load` in a child process.
func runHTTPLoad(ctx context.Context, exe string, args ...string) (*httpLoadResult, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, exe, append([]string{"bench", "http-load"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("bench http-load: %v: %s", err, bytes.TrimSpace(errb.Bytes()))
	}
	var r httpLoadResult
	if err := json.NewDecoder(io.LimitReader(&out, 1<<20)).Decode(&r); err != nil {
		return nil, fmt.Errorf("bench http-load output %q: %w", out.String(), err)
	}
	r.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return &r, nil
}
