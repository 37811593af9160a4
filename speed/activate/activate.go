// Package activate is the activation API: real-time profile look-ups by
// any identifier, for the systems that act on profiles.
//
//	GET /v1/profiles/{type}:{value}[?include=events]
//	GET /v1/profiles/{type}:{value}/events
//
// with Authorization: Bearer <api key> (or Basic, the key as user name) of
// role admin or activation; the key's workspace scopes the look-up. The
// value is normalized as at ingest. The same look-ups answer Segment's
// Profile API (segment.go) under /v1/spaces/.
package activate

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	pathpkg "path"
	"strconv"
	"strings"
	"sync"
	"time"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/identity"
	"github.com/tributary-cdp/tributary/internal/auth"
	"github.com/tributary-cdp/tributary/speed"
)

// Profiles is where look-ups are answered; *speed.Consumer and *speed.Store implement it.
type Profiles interface {
	View(workspace string, id cdp.Identifier, fn func(p *speed.Profile)) error
}

// Config of the API.
type Config struct {
	Keys     *auth.Keys
	Profiles Profiles
	// Segments, when set, lists the segments a profile is in; until then
	// the response carries an empty list.
	Segments func(p *speed.Profile) []string
	// PhoneRegions read phone numbers without a country code in look-ups,
	// in the region of the API key's workspace: the speed layer's
	// (StoreConfig.PhoneRegions).
	PhoneRegions identity.Regions
	// Blocklist, when set, is the speed layer's junk values: the 404 of a
	// look-up by one says why no profile holds it (test@test.com is a
	// common first try).
	Blocklist *identity.Blocklist
}

// Validate checks the config.
func (c Config) Validate() error {
	if c.Keys == nil || c.Profiles == nil {
		return errors.New("activation API: keys and profiles are required")
	}
	if err := c.PhoneRegions.Validate(); err != nil {
		return fmt.Errorf("activation API: %w", err)
	}
	return nil
}

// API serves profile look-ups.
type API struct {
	cfg     Config
	renders sync.Pool // of *render
	bufs    sync.Pool // of *[]byte, the adapters' response buffers
}

// New builds the API.
func New(cfg Config) (*API, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &API{cfg: cfg}
	a.renders.New = func() any {
		r := &render{api: a}
		r.fn, r.segFn = r.profile, r.segment
		return r
	}
	a.bufs.New = func() any {
		b := make([]byte, 0, 4096)
		return &b
	}
	return a, nil
}

// render writes one response document, into the caller's buffer, while
// the store holds the profile's read lock. It is pooled, and fn is bound once,
// so a look-up leaves almost no garbage: the GC's work, and the latency it
// adds to every request while it marks a large store, grows with the
// garbage the server makes per request.
type render struct {
	api                    *API
	buf                    []byte
	withEvents, eventsOnly bool
	seg                    *segmentQuery          // of a Segment Profile API request
	fn, segFn              func(p *speed.Profile) // r.profile, r.segment
}

func (r *render) profile(p *speed.Profile) {
	if r.eventsOnly {
		r.buf = appendEventsDoc(r.buf, p)
		return
	}
	var segs []string
	if r.api.cfg.Segments != nil {
		segs = r.api.cfg.Segments(p)
	}
	r.buf = appendProfile(r.buf, p, segs, r.withEvents)
}

// ContentType is the Content-Type of every answer, errors included;
// answers with status 200 also carry Cache-Control: no-store.
const ContentType = "application/json"

// Serve answers one request to the API whatever the transport: it routes
// path (as sent, escaped, without the query), authenticates the
// Authorization header's value, reads include=events from rawQuery, looks
// the profile up and appends the JSON document, or the JSON error, to dst.
// It returns the body and the status; the body is ContentType. Nothing of
// the arguments is retained, so a transport may pass views of its buffers.
// Paths under /v1/spaces/ are Segment's Profile API (serveSegment).
// Methods other than GET and HEAD get 405 (Allow: GET, HEAD) and paths
// other than the look-ups 404, both with JSON errors.
func (a *API) Serve(dst []byte, method, path, rawQuery, authorization string) (body []byte, status int) {
	if !strings.HasPrefix(path, "/") {
		// The absolute form (RFC 9112 §3.2.2: http://host/v1/…, which a
		// server must accept) is read as net/http reads it: its path.
		if u, err := url.ParseRequestURI(path); err == nil {
			path = u.EscapedPath()
		}
	}
	ref, eventsOnly, ok := route(path)
	if !ok {
		if rest, ok := strings.CutPrefix(path, "/v1/spaces/"); ok {
			return a.serveSegment(dst, method, rest, rawQuery, authorization)
		}
		if ref, tail, _ := strings.Cut(strings.TrimPrefix(path, "/v1/profiles/"), "/"); strings.Contains(ref, ":") && tail != "" {
			// Most likely a value with a / sent as it is (auth0|team/42).
			return appendError(dst, http.StatusNotFound, "not_found", "no such endpoint: GET /v1/profiles/{type}:{value}[/events]; a / in a value is sent escaped, as %2F")
		}
		return appendError(dst, http.StatusNotFound, "not_found", "no such endpoint: GET /v1/profiles/{type}:{value}[/events]")
	}
	if method != http.MethodGet && method != http.MethodHead {
		return appendError(dst, http.StatusMethodNotAllowed, "method_not_allowed", "use GET")
	}
	ref, err := url.PathUnescape(ref)
	if err != nil {
		return appendError(dst, http.StatusBadRequest, "invalid_identifier", "the path is not validly escaped")
	}
	withEvents, err := includeEvents(rawQuery)
	if err != nil {
		return appendError(dst, http.StatusBadRequest, "invalid_parameter", err.Error())
	}
	return a.Lookup(dst, ref, authorization, eventsOnly || withEvents, eventsOnly)
}

// route splits /v1/profiles/{ref} and /v1/profiles/{ref}/events, {ref}
// still escaped, as the net/http patterns of Register match them.
func route(path string) (ref string, eventsOnly, ok bool) {
	rest, ok := strings.CutPrefix(path, "/v1/profiles/")
	if !ok {
		return "", false, false
	}
	ref, tail, slash := strings.Cut(rest, "/")
	switch {
	case ref == "":
		return "", false, false
	case !slash:
		return ref, false, true
	case tail == "events":
		return ref, true, true
	}
	return "", false, false
}

// includeEvents reads include from the query: events, or nothing. Any
// other value is refused, not ignored, so that a typo (include=event) does
// not pass for a profile without events. The query is parsed only when
// there is one: most look-ups have none.
func includeEvents(rawQuery string) (events bool, err error) {
	if rawQuery == "" {
		return false, nil
	}
	q, _ := url.ParseQuery(rawQuery)
	for _, v := range q["include"] {
		for item := range strings.SplitSeq(v, ",") {
			if item != "events" {
				return false, cdp.Invalid("invalid_parameter", "include", item, "must be events, the only part a look-up adds")
			}
			events = true
		}
	}
	return events, nil
}

// Lookup answers a routed look-up: ref is the unescaped "type:value",
// authorization the Authorization header's value. It appends the profile
// document (or with eventsOnly the events document), or a JSON error, to
// dst and returns it with the status.
func (a *API) Lookup(dst []byte, ref, authorization string, withEvents, eventsOnly bool) (body []byte, status int) {
	p, f := a.principal(authorization)
	var id cdp.Identifier
	if f.status == 0 {
		id, f = a.identifier(p.Workspace, ref)
	}
	if f.status != 0 {
		return appendError(dst, f.status, f.code, f.msg)
	}
	rd := a.renders.Get().(*render)
	rd.buf, rd.withEvents, rd.eventsOnly = dst, withEvents, eventsOnly
	dst, found := rd.view(p.Workspace, id, rd.fn)
	if !found {
		msg := "no profile has " + id.String() + " in workspace " + p.Workspace
		if a.cfg.Blocklist != nil && a.cfg.Blocklist.Blocked(id.Type, id.Value) {
			msg += ": the value is junk (the built-in list or speed.blocklist; speed.allow takes it off) and identifies no one"
		}
		return appendError(dst, http.StatusNotFound, "not_found", msg)
	}
	return append(dst, '\n'), http.StatusOK
}

// failure is an error answer, before it is written in the format of the
// API that answers (appendError, appendSegmentError); status 0 is none.
type failure struct {
	status    int
	code, msg string
}

// principal authenticates the Authorization value's API key (auth.Token)
// and checks that its role may read profiles.
func (a *API) principal(authorization string) (cdp.Principal, failure) {
	key := auth.Token(authorization)
	p, ok := a.cfg.Keys.API(key)
	if !ok {
		msg := "unknown API key"
		if key == "" {
			msg = "no API key: send Authorization: Bearer <api key>, or Basic with the key as user name and no password"
		}
		return p, failure{http.StatusUnauthorized, "unauthorized", msg}
	}
	if !p.Role.CanReadProfiles() {
		return p, failure{http.StatusForbidden, "forbidden", "the key's role " + string(p.Role) + " may not read profiles; use an admin or activation key"}
	}
	return p, failure{}
}

// identifier is ParseRef in the phone region of workspace.
func (a *API) identifier(workspace, ref string) (cdp.Identifier, failure) {
	id, err := ParseRef(ref, a.cfg.PhoneRegions.Of(workspace))
	if err != nil {
		var ve *cdp.ValidationError
		errors.As(err, &ve)
		return id, failure{http.StatusBadRequest, ve.Code, ve.Error()}
	}
	return id, failure{}
}

// view calls fn (a method of rd) with the profile while the store holds
// its read lock, hands rd back to the pool and returns what fn appended
// to rd.buf; found is false when the workspace has no such profile.
func (rd *render) view(workspace string, id cdp.Identifier, fn func(p *speed.Profile)) (buf []byte, found bool) {
	err := rd.api.cfg.Profiles.View(workspace, id, fn)
	buf, rd.buf, rd.seg = rd.buf, nil, nil
	rd.api.renders.Put(rd)
	return buf, !errors.Is(err, cdp.ErrNotFound)
}

// appendError appends the body httpx.WriteError writes:
// {"success":false,"code":…,"message":…} and a newline.
func appendError(b []byte, status int, code, msg string) ([]byte, int) {
	b = append(b, `{"success":false,"code":`...)
	b = appendString(b, code)
	b = append(b, `,"message":`...)
	b = appendString(b, msg)
	return append(b, "}\n"...), status
}

// Register mounts the endpoints on mux: the net/http adapter of Serve.
// The mux routes; Lookup answers.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/profiles/{ref}", func(w http.ResponseWriter, r *http.Request) {
		a.serveHTTP(w, r, false)
	})
	mux.HandleFunc("GET /v1/profiles/{ref}/events", func(w http.ResponseWriter, r *http.Request) {
		a.serveHTTP(w, r, true)
	})
	// The rest of /v1/profiles/ (other methods, other paths) gets Serve's
	// JSON 405 or 404, as on the activation listener, not the mux's text;
	// /v1/profiles too, not the mux's redirect to /v1/profiles/. Serve
	// also routes Segment's Profile API, under /v1/spaces/.
	mux.HandleFunc("/v1/profiles/", a.serveRest)
	mux.HandleFunc("/v1/profiles", a.serveRest)
	mux.HandleFunc("/v1/spaces/", a.serveRest)
	mux.HandleFunc("/v1/spaces", a.serveRest)
}

// Handler is mux, which the API is registered on, but for the paths of the
// API with // or a dot segment (/v1/profiles/user_id:a/../b, /v1//profiles/x):
// mux would redirect them to their cleaned form before any handler runs;
// Serve answers them, as on the activation listener. Other requests pay a
// look for "//" and "/." in their path.
func (a *API) Handler(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The decoded path has a // or /. wherever the escaped path mux
		// cleans has one.
		if p := r.URL.Path; (strings.Contains(p, "//") || strings.Contains(p, "/.")) && (apiPath(p) || apiPath(pathpkg.Clean(p))) {
			a.serveRest(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// apiPath says whether p is /v1/profiles or /v1/spaces or under them.
func apiPath(p string) bool {
	for _, root := range [...]string{"/v1/profiles", "/v1/spaces"} {
		if rest, ok := strings.CutPrefix(p, root); ok && (rest == "" || rest[0] == '/') {
			return true
		}
	}
	return false
}

// serveRest answers with Serve, from the path as sent.
func (a *API) serveRest(w http.ResponseWriter, r *http.Request) {
	// The path as sent, as the activation listener reads it: EscapedPath
	// re-escapes one with a character it would have escaped, and "%2F"
	// then splits differently.
	path := r.URL.EscapedPath()
	if strings.HasPrefix(r.RequestURI, "/") {
		path, _, _ = strings.Cut(r.RequestURI, "?")
	}
	bp := a.getBuf()
	body, status := a.Serve((*bp)[:0], r.Method, path, r.URL.RawQuery, r.Header.Get("Authorization"))
	a.writeHTTP(w, bp, body, status)
}

func (a *API) serveHTTP(w http.ResponseWriter, r *http.Request, eventsOnly bool) {
	bp := a.getBuf()
	var body []byte
	var status int
	if withEvents, err := includeEvents(r.URL.RawQuery); err != nil {
		body, status = appendError((*bp)[:0], http.StatusBadRequest, "invalid_parameter", err.Error())
	} else {
		body, status = a.Lookup((*bp)[:0], r.PathValue("ref"), r.Header.Get("Authorization"), eventsOnly || withEvents, eventsOnly)
	}
	a.writeHTTP(w, bp, body, status)
}

// writeHTTP writes an answer of Serve or Lookup, body in *bp's buffer,
// and hands the buffer back.
func (a *API) writeHTTP(w http.ResponseWriter, bp *[]byte, body []byte, status int) {
	h := w.Header()
	// Shared header values: net/http only reads them.
	h["Content-Type"] = jsonContentType
	switch status {
	case http.StatusOK:
		h["Cache-Control"] = noStore
	case http.StatusMethodNotAllowed:
		h["Allow"] = allowGet
	}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
	*bp = body
	a.putBuf(bp)
}

// getBuf and putBuf pool the adapters' response buffers, so a look-up
// leaves almost no garbage.
func (a *API) getBuf() *[]byte { return a.bufs.Get().(*[]byte) }

func (a *API) putBuf(bp *[]byte) {
	if cap(*bp) <= 1<<20 { // an outsized buffer goes to the GC
		a.bufs.Put(bp)
	}
}

// ParseRef splits "type:value" and normalizes the value as at ingest,
// phone numbers without a country code in region.
func ParseRef(ref, region string) (cdp.Identifier, error) {
	typ, val, ok := strings.Cut(ref, ":")
	typ = strings.ToLower(strings.TrimSpace(typ))
	if !ok || typ == "" || !validType(typ) {
		return cdp.Identifier{}, cdp.Invalid("invalid_identifier", "identifier", ref, "must be <type>:<value>, e.g. email:ann@example.com or user_id:42")
	}
	v := identity.Normalize(typ, val, region) // cdp ids are trimmed like other types
	if v == "" {
		return cdp.Identifier{}, cdp.Invalid("invalid_identifier", "identifier", ref, "the value is empty or not a valid "+typ)
	}
	return cdp.Identifier{Type: typ, Value: v}, nil
}

func validType(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return len(s) <= 63
}

var (
	jsonContentType = []string{ContentType}
	noStore         = []string{"no-store"}
	allowGet        = []string{"GET, HEAD"}
)

// appendProfile writes the stable response contract:
//
//	{"cdp_id","workspace","identifiers":[{"type","value"}],"traits":{},
//	 "computed":{"events_total","event_counts":{},"page_views","screen_views",
//	 "first_seen","last_seen","revenue_total","orders_total","last_page","groups"},
//	 "segments":[],"updated_at"[,"events":[…]]}
func appendProfile(b []byte, p *speed.Profile, segments []string, withEvents bool) []byte {
	b = append(b, `{"cdp_id":`...)
	b = appendString(b, p.CDPID)
	b = append(b, `,"workspace":`...)
	b = appendString(b, p.Workspace)
	b = append(b, `,"identifiers":[`...)
	for i, id := range p.Identifiers {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":`...)
		b = appendString(b, id.Type)
		b = append(b, `,"value":`...)
		b = appendString(b, id.Value)
		b = append(b, '}')
	}
	b = append(b, `],"traits":{`...)
	for i, t := range p.Traits {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, t.Name())
		b = append(b, ':')
		b = append(b, t.Value()...)
	}
	b = append(b, `},"computed":{"events_total":`...)
	b = appendInt(b, p.EventsTotal)
	b = append(b, `,"event_counts":{`...)
	for i, e := range p.Events {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, e.Name)
		b = append(b, ':')
		b = appendInt(b, e.Total)
	}
	b = append(b, `},"page_views":`...)
	b = appendInt(b, p.PageViews)
	b = append(b, `,"screen_views":`...)
	b = appendInt(b, p.ScreenViews)
	b = append(b, `,"first_seen":`...)
	b = appendTime(b, p.FirstSeen)
	b = append(b, `,"last_seen":`...)
	b = appendTime(b, p.LastSeen)
	b = append(b, `,"revenue_total":`...)
	b = appendFloat(b, p.Revenue())
	b = append(b, `,"orders_total":`...)
	b = appendInt(b, p.OrdersTotal)
	b = append(b, `,"last_page":`...)
	b = appendStringOrNull(b, p.LastPage())
	b = append(b, `,"groups":[`...)
	for i, g := range p.Groups() {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, g)
	}
	b = append(b, `]},"segments":[`...)
	for i, s := range segments {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	b = append(b, `],"updated_at":`...)
	b = appendTime(b, p.UpdatedAt)
	if withEvents {
		b = append(b, `,"events":`...)
		b = appendEvents(b, p)
	}
	return append(b, '}')
}

// appendEventsDoc writes {"cdp_id":…,"events":[…]}.
func appendEventsDoc(b []byte, p *speed.Profile) []byte {
	b = append(b, `{"cdp_id":`...)
	b = appendString(b, p.CDPID)
	b = append(b, `,"events":`...)
	b = appendEvents(b, p)
	return append(b, '}')
}

// appendEvents writes the recent events, newest first: [{"type",
// "event"|"name"|"groupId"|"previousId","messageId","timestamp",
// "properties"|"traits","propertiesTruncated"|"traitsTruncated"}].
func appendEvents(b []byte, p *speed.Profile) []byte {
	b = append(b, '[')
	for e := range p.RecentEvents() {
		if b[len(b)-1] != '[' {
			b = append(b, ',')
		}
		b = append(b, `{"type":`...)
		b = appendString(b, string(e.Type))
		b = appendEventSubject(b, &e, &lookupKeys)
		b = append(b, `,"messageId":`...)
		b = appendString(b, e.MessageID)
		b = append(b, `,"timestamp":`...)
		b = appendTime(b, e.TS)
		b = appendEventProperties(b, &e, &lookupKeys)
		b = append(b, '}')
	}
	return append(b, ']')
}

// eventKeys names what the look-up API and the Profile API name apart:
// the one follows the Segment spec's events (camelCase), the other its
// own snake_case.
type eventKeys struct {
	groupID, previousID string // with the comma and colon around
	truncated           string // after "properties or "traits
}

var (
	lookupKeys  = eventKeys{groupID: `,"groupId":`, previousID: `,"previousId":`, truncated: `Truncated":true`}
	profileKeys = eventKeys{groupID: `,"group_id":`, previousID: `,"previous_id":`, truncated: `_truncated":true`}
)

// appendEventSubject writes ,"event" (track), ,"name" (page, screen), the
// group id or the previous id, when the event has one.
func appendEventSubject(b []byte, e *speed.RecentEvent, k *eventKeys) []byte {
	key, v := `,"name":`, e.Name
	switch e.Type {
	case cdp.Track:
		key = `,"event":`
	case cdp.Group:
		key, v = k.groupID, e.GroupID
	case cdp.Alias:
		key, v = k.previousID, e.PreviousID
	}
	if v == "" {
		return b
	}
	b = append(b, key...)
	return appendString(b, v)
}

// appendEventProperties writes ,"properties" or, for a group call,
// ,"traits"; and, where they were left out for their size, a flag that
// says so (,"propertiesTruncated":true), so that a user tells them from
// none.
func appendEventProperties(b []byte, e *speed.RecentEvent, k *eventKeys) []byte {
	name := "properties"
	if e.HasTraits() {
		name = "traits"
	}
	if e.Properties != "" {
		b = append(b, `,"`...)
		b = append(b, name...)
		b = append(b, `":`...)
		b = append(b, e.Properties...)
	}
	if e.Truncated {
		b = append(b, `,"`...)
		b = append(b, name...)
		b = append(b, k.truncated...)
	}
	return b
}

func appendTime(b []byte, ns int64) []byte {
	if ns == 0 {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = time.Unix(0, ns).UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}
