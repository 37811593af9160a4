package activate

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/tributary-cdp/tributary/internal/httpx"
)

type answer struct {
	status                                   int
	body                                     string
	contentType, contentLength, cacheControl string
}

func fetch(t *testing.T, method, url, key string) answer {
	t.Helper()
	if key != "" {
		key = "Bearer " + key
	}
	return fetchAuth(t, method, url, key)
}

// fetchAuth is fetch with an Authorization header's value.
func fetchAuth(t *testing.T, method, url, authorization string) answer {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(b), resp.Header.Get("Content-Type"), resp.Header.Get("Content-Length"), resp.Header.Get("Cache-Control")}
}

// TestTransportsAnswerAlike: net/http (the main port), fasthttp and the
// loop (the activation listener) answer every look-up with the same
// status, body and headers, from one API over one store.
func TestTransportsAnswerAlike(t *testing.T) {
	servers := serveAll(t, newAPI(t))
	for _, c := range []struct{ path, key string }{
		{"/v1/profiles/user_id:u1", adminKey},
		{"/v1/profiles/user_id:u1?include=events", activationKey},
		{"/v1/profiles/user_id:u1?x=1&include=events", activationKey},
		{"/v1/profiles/user_id:u1?include=no", activationKey},
		{"/v1/profiles/user_id:u1/events", adminKey},
		{"/v1/profiles/user_id:team%2F42%20%C3%BC", adminKey},
		{"/v1/profiles/user_id:team%2F42%20%C3%BC/events", adminKey},
		{"/v1/profiles/email:Ann@Example.com%20", adminKey},
		{"/v1/profiles/user_id:u1", analystKey},
		{"/v1/profiles/user_id:u1", ""},
		{"/v1/profiles/user_id:u1", "ak_nope_0000000000000000"},
		{"/v1/profiles/user_id:u2", adminKey},
		{"/v1/profiles/user_id:%3Cu2%3E", adminKey},
		{"/v1/profiles/u1", adminKey},
		{"/v1/profiles/email:nope", adminKey},
		// Segment's Profile API
		{"/v1/spaces/default/collections/users/profiles/user_id:u1/traits?limit=1", activationKey},
		{"/v1/spaces/default/collections/users/profiles/user_id:u1/external_ids", adminKey},
		{"/v1/spaces/default/collections/users/profiles/user_id:u1/events?sort=asc&limit=2", adminKey},
		{"/v1/spaces/default/collections/users/profiles/user_id:u1/metadata", adminKey},
		{"/v1/spaces/default/collections/users/profiles/user_id:u1/links", adminKey},
		{"/v1/spaces/default/collections/users/profiles/user_id:u2/traits", adminKey},
		{"/v1/spaces/default/collections/users/profiles/user_id:u1/traits", otherKey},
		{"/v1/spaces/default/collections/users/profiles/user_id:u1/traits", ""},
		{"/v1/spaces/default/collections/accounts/profiles/group_id:g/traits", adminKey},
		// Paths net/http's mux would redirect to their cleaned form
		{"/v1/profiles/user_id:u2/../user_id:u1", adminKey},
		{"/v1//profiles/user_id:u1", adminKey},
		{"/v1/profiles//user_id:u1", adminKey},
		{"/v1/profiles/./user_id:u1/events", adminKey},
		{"/v1/profiles/user_id:u1/events/..", adminKey},
		{"/v1/profiles/..", adminKey},
		{"/v1/x/../profiles/user_id:u1", adminKey},
		{"/v1/spaces/default/collections/users/profiles/user_id:u1/./traits", adminKey},
		{"//v1/spaces/default/collections/users/profiles/user_id:u1/traits", adminKey},
	} {
		s, f, l := fetch(t, "GET", servers[0]+c.path, c.key), fetch(t, "GET", servers[1]+c.path, c.key), fetch(t, "GET", servers[2]+c.path, c.key)
		if s != f || s != l {
			t.Errorf("%s:\nnet/http %+v\nfasthttp %+v\nloop     %+v", c.path, s, f, l)
		}
		if s.contentType != "application/json" || s.contentLength == "" {
			t.Errorf("%s: headers %+v", c.path, s)
		}
		if (s.status == 200) != (s.cacheControl == "no-store") {
			t.Errorf("%s: %d with Cache-Control %q", c.path, s.status, s.cacheControl)
		}
	}
}

// TestErrorBodiesAsHTTPX: the errors Serve writes are httpx.WriteError's
// bytes, escaping included.
func TestErrorBodiesAsHTTPX(t *testing.T) {
	for _, msg := range []string{"plain", `no profile has user_id:<a&"b"> in workspace default`, "é\u2028\x01"} {
		rec := httptest.NewRecorder()
		httpx.WriteError(rec, 404, "not_found", msg)
		if got, _ := appendError(nil, 404, "not_found", msg); string(got) != rec.Body.String() {
			t.Errorf("got %s want %s", got, rec.Body.String())
		}
	}
}

// TestFastRoutes: on the activation listener (fasthttp or the loop), what
// the main port's mux would answer with its own 404 and 405 gets JSON
// errors.
func TestFastRoutes(t *testing.T) {
	for _, tr := range transports[1:] {
		t.Run(tr.name, func(t *testing.T) { testFastRoutes(t, tr.serve(t)) })
	}
	// A client's URL parser refuses this one; Serve sees it as sent.
	if body, st := newAPI(t).Serve(nil, "GET", "/v1/profiles/user_id:%zz", "", "Bearer "+adminKey); st != 400 || !strings.Contains(string(body), `"code":"invalid_identifier"`) {
		t.Errorf("bad escape: %d %s", st, body)
	}
}

func testFastRoutes(t *testing.T, fast string) {
	for _, c := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/", 404, "not_found"},
		{"GET", "/v1/profiles/", 404, "not_found"},
		{"GET", "/v1/profiles/user_id:u1/", 404, "not_found"},
		{"GET", "/v1/profiles/user_id:u1/other", 404, "not_found"},
		{"GET", "/v1/track", 404, "not_found"},
		{"POST", "/v1/profiles/user_id:u1", 405, "method_not_allowed"},
	} {
		a := fetch(t, c.method, fast+c.path, adminKey)
		if a.status != c.status || !strings.Contains(a.body, `"code":"`+c.code+`"`) || a.contentType != "application/json" {
			t.Errorf("%s %s: %+v, want %d %s", c.method, c.path, a, c.status, c.code)
		}
	}
	if a := fetch(t, "HEAD", fast+"/v1/profiles/user_id:u1", adminKey); a.status != 200 || a.body != "" {
		t.Errorf("HEAD: %+v", a)
	}
}

// TestFastLookupAllocations: a look-up through the fasthttp adapter
// allocates nothing of its own once its buffers are warm.
func TestFastLookupAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	api := newAPI(t)
	ctx := fastLookup()
	n := testing.AllocsPerRun(200, func() {
		ctx.Response.Reset()
		api.ServeFast(ctx)
	})
	if ctx.Response.StatusCode() != 200 {
		t.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if n > 0 {
		t.Errorf("a look-up through fasthttp allocates %.0f times, want 0", n)
	}
}

// fastLookup is a fasthttp request for ann's profile with the activation key.
func fastLookup() *fasthttp.RequestCtx {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod("GET")
	ctx.Request.SetRequestURI("/v1/profiles/email:ann@example.com")
	ctx.Request.Header.Set("Authorization", "Bearer "+activationKey)
	return &ctx
}

// BenchmarkFastLookup is BenchmarkLookup through the fasthttp adapter.
func BenchmarkFastLookup(b *testing.B) {
	api := newAPI(b)
	ctx := fastLookup()
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		api.ServeFast(ctx)
	}
}

// TestAbsoluteFormTarget: a request line in the absolute form (RFC 9112
// §3.2.2, GET http://host/v1/… as a proxy sends it), which a server must
// accept, finds the profile on every transport.
func TestAbsoluteFormTarget(t *testing.T) {
	for i, srv := range serveAll(t, newAPI(t)) {
		addr := strings.TrimPrefix(srv, "http://")
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET http://%s/v1/profiles/user_id:u1?include=events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", addr, addr, adminKey)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		conn.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), `"events":[`) {
			t.Errorf("transport %d: %d %s", i, resp.StatusCode, b)
		}
	}
}
