package activate

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// discard is a ResponseWriter that keeps nothing, so the benchmark counts
// the handler's allocations and not a recorder's.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkLookup is one authenticated look-up through the mux, as the
// HTTP server calls it; allocs/op is what each request leaves to the GC.
func BenchmarkLookup(b *testing.B) {
	srv := newServer(b)
	mux := srv.Config.Handler
	req := httptest.NewRequest("GET", "/v1/profiles/email:ann@example.com", nil)
	req.Header.Set("Authorization", "Bearer "+activationKey)
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		mux.ServeHTTP(w, req)
	}
}

// TestLookupAllocations keeps the look-up's garbage small: the GC's mark
// work, and the latency it adds while it marks a store of millions of
// profiles, grows with what each request allocates. Today: the mux's path
// match (1) and Content-Length (2); the API key's hash allocates nothing.
func TestLookupAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	srv := newServer(t)
	mux := srv.Config.Handler
	req := httptest.NewRequest("GET", "/v1/profiles/email:ann@example.com", nil)
	req.Header.Set("Authorization", "Bearer "+activationKey)
	w := &discard{h: http.Header{}}
	n := testing.AllocsPerRun(200, func() {
		clear(w.h)
		mux.ServeHTTP(w, req)
	})
	if n > 3 {
		t.Errorf("a look-up allocates %.0f times, want at most 3", n)
	}
}
