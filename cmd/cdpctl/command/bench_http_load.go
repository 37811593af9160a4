package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
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
	cpuProf  string
}

// httpLoadResult is the generator's one line of JSON output. Latencies are
// in nanoseconds; in the open loop they count from each request's
// scheduled send time, so time spent queued behind a slow response counts.
type httpLoadResult struct {
	Conns    int     `json:"conns"`
	Rate     int     `json:"rate"`     // requests/s scheduled; 0 in the closed loop
	Requests int64   `json:"requests"` // answered with 200 and a profile
	Errors   int64   `json:"errors"`   // answered otherwise
	Seconds  float64 `json:"seconds"`
	RPS      float64 `json:"rps"`
	P50      int64   `json:"p50_ns"`
	P90      int64   `json:"p90_ns"`
	P99      int64   `json:"p99_ns"`
	P999     int64   `json:"p999_ns"`
	Max      int64   `json:"max_ns"`
	// WakeP99 is the 99th percentile of how late the generator sent a
	// request that was due on an idle connection: its own error, included
	// in the latencies above.
	WakeP99 int64 `json:"wake_p99_ns"`
	// CPU is the generator's CPU time (user + system) while it sent and
	// read, and CPUPerRequest that over the answers: what it took of the
	// cores the server runs on.
	CPU           time.Duration `json:"cpu_ns"`
	CPUPerRequest int64         `json:"cpu_ns_per_request"`
	// RunqWait is how long the generator's thread was ready to run but
	// waited for a CPU (schedstat): on a shared machine, part of the
	// latencies above and of the wake-up error.
	RunqWait time.Duration `json:"runq_wait_ns"`
	// ProcessCPU is the generator process's CPU time from start to exit
	// (reading the paths, connecting), set by runHTTPLoad.
	ProcessCPU time.Duration `json:"-"`
}

func newBenchHTTPLoadCmd() *cobra.Command {
	o := &benchHTTPLoadOptions{}
	cmd := &cobra.Command{
		Use:    "http-load",
		Short:  "Look-up load generator for bench speed (closed loop, or open loop at --rate)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stop, err := cpuProfile(o.cpuProf)
			if err != nil {
				return err
			}
			res, err := o.run()
			stop()
			if res != nil {
				if err := json.NewEncoder(cmd.OutOrStdout()).Encode(res); err != nil {
					return err
				}
			}
			return err
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
	f.StringVar(&o.cpuProf, "cpuprofile", "", "write the generator's CPU profile to this file")
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
	return o.loop(newLoadRequests(paths, o.apiKey))
}

// loadRequests are the generator's requests, formatted once: request i is
// all[offs[i]:offs[i+1]], written to a connection as it is.
type loadRequests struct {
	all   []byte
	offs  []int
	paths []string // for error messages
}

func newLoadRequests(paths []string, apiKey string) *loadRequests {
	r := &loadRequests{offs: make([]int, 1, len(paths)+1), paths: paths}
	for _, p := range paths {
		r.all = append(r.all, "GET "...)
		r.all = append(r.all, p...)
		r.all = append(r.all, " HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer "...)
		r.all = append(r.all, apiKey...)
		r.all = append(r.all, "\r\n\r\n"...)
		r.offs = append(r.offs, len(r.all))
	}
	return r
}

func (r *loadRequests) len() int         { return len(r.paths) }
func (r *loadRequests) get(i int) []byte { return r.all[r.offs[i]:r.offs[i+1]] }

// checkResponse says what is wrong with the answer to request i, if
// anything: it must be 200 with a profile document ({"cdp_id":…}\n).
func (r *loadRequests) checkResponse(i, status int, body []byte) error {
	if status != 200 {
		return fmt.Errorf("look-up %s: status %d: %.120s", r.paths[i], status, body)
	}
	if !bytes.HasPrefix(body, []byte(`{"cdp_id":"`)) || !bytes.HasSuffix(body, []byte("}\n")) {
		return fmt.Errorf("look-up %s: not a profile document: %.80q", r.paths[i], body)
	}
	return nil
}

// loadStats gathers what a run measured; the loops fill it.
type loadStats struct {
	lat, wakes []time.Duration
	errors     int64
	firstErr   error
	took       time.Duration
	cpu        time.Duration
	runqWait   time.Duration
}

// answered records the answer to request i after lat, checked.
func (s *loadStats) answered(reqs *loadRequests, i, status int, body []byte, lat time.Duration) {
	if err := reqs.checkResponse(i, status, body); err != nil {
		s.errors++
		if s.firstErr == nil {
			s.firstErr = err
		}
		return
	}
	s.lat = append(s.lat, lat)
}

func (o *benchHTTPLoadOptions) result(s *loadStats) (*httpLoadResult, error) {
	lat, wakes := s.lat, s.wakes
	slices.Sort(lat)
	slices.Sort(wakes)
	r := &httpLoadResult{Conns: o.conns, Rate: o.rate, Requests: int64(len(lat)), Errors: s.errors, Seconds: s.took.Seconds(),
		RPS: float64(len(lat)) / s.took.Seconds(), P50: int64(q(lat, .5)), P90: int64(q(lat, .9)), P99: int64(q(lat, .99)),
		P999: int64(q(lat, .999)), WakeP99: int64(q(wakes, .99)), CPU: s.cpu, RunqWait: s.runqWait}
	if len(lat) > 0 {
		r.Max = int64(lat[len(lat)-1])
	}
	if n := r.Requests + r.Errors; n > 0 {
		r.CPUPerRequest = int64(s.cpu) / n
	}
	if s.errors > 0 {
		return r, fmt.Errorf("http-load: %d of %d answers were wrong; the first: %w", s.errors, r.Requests+s.errors, s.firstErr)
	}
	return r, nil
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
	r.ProcessCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return &r, nil
}
