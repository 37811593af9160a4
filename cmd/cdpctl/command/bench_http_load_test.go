package command

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestHTTPLoad runs the generator against a stub that checks the key and
// answers a profile document after 2 ms: the open loop sends rate ×
// duration requests, and its latencies count the stub's delay.
func TestHTTPLoad(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the load generator runs on Linux only")
	}
	var served atomic.Int64
	body := `{"cdp_id":"cdp_1","workspace":"default"}` + "\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+benchAPIKey {
			http.Error(w, "no key", http.StatusUnauthorized)
			return
		}
		served.Add(1)
		if r.URL.Path == "/v1/profiles/user_id:slow" {
			time.Sleep(2 * time.Millisecond)
		}
		if r.URL.Path == "/v1/profiles/user_id:html" {
			_, _ = w.Write([]byte("<html></html>"))
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	paths := func(ps ...string) string {
		f := filepath.Join(t.TempDir(), "paths")
		if err := os.WriteFile(f, []byte(strings.Join(ps, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	o := &benchHTTPLoadOptions{addr: strings.TrimPrefix(srv.URL, "http://"), apiKey: benchAPIKey,
		paths: paths("/v1/profiles/user_id:slow"), conns: 4, rate: 400, duration: 500 * time.Millisecond, seed: 1}

	open, err := o.run()
	if err != nil {
		t.Fatal(err)
	}
	if open.Requests != 200 || served.Load() != 200 {
		t.Errorf("open loop at 400/s for 0.5 s: %d requests, %d served, want 200", open.Requests, served.Load())
	}
	if open.P50 < int64(2*time.Millisecond) || open.Max < open.P99 || open.P99 < open.P50 {
		t.Errorf("open loop latencies %+v: want at least the stub's 2 ms, ordered", open)
	}

	o.rate = 0
	closed, err := o.run()
	if err != nil {
		t.Fatal(err)
	}
	// 4 connections, 2 ms each: about 2,000/s at most.
	if closed.Requests < 100 || closed.RPS > 2100 || closed.P50 < int64(2*time.Millisecond) {
		t.Errorf("closed loop %+v", closed)
	}

	o.paths = paths("/v1/profiles/user_id:html")
	if _, err := o.run(); err == nil || !strings.Contains(err.Error(), "not a profile document") {
		t.Errorf("a non-profile answer: err %v", err)
	}
	o.paths, o.apiKey = paths("/v1/profiles/user_id:slow"), "ak_wrong"
	if _, err := o.run(); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("a rejected key: err %v", err)
	}
}

// TestHTTPLoadCountsErrors: wrong answers are counted, the run goes on
// to its end, and fails naming the first.
func TestHTTPLoadCountsErrors(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the load generator runs on Linux only")
	}
	body := `{"cdp_id":"cdp_1"}` + "\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/profiles/user_id:gone" {
			http.Error(w, "no such profile", http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	f := filepath.Join(t.TempDir(), "paths")
	if err := os.WriteFile(f, []byte("/v1/profiles/user_id:gone\n/v1/profiles/user_id:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, rate := range []int{0, 400} {
		o := &benchHTTPLoadOptions{addr: strings.TrimPrefix(srv.URL, "http://"), apiKey: benchAPIKey, paths: f,
			conns: 3, rate: rate, duration: 300 * time.Millisecond, seed: 1}
		r, err := o.run()
		if err == nil || !strings.Contains(err.Error(), "status 404") || r == nil || r.Errors == 0 || r.Requests == 0 {
			t.Fatalf("rate %d: result %+v, err %v: want both answers counted and the 404 named", rate, r, err)
		}
		if rate > 0 && r.Requests+r.Errors != 120 {
			t.Errorf("open loop at 400/s for 0.3 s: %d answers, want 120", r.Requests+r.Errors)
		}
	}
}
