package activate

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/speed"
)

// Segment's Profile API, for code written against it
// (https://segment.com/docs/unify/profile-api/), over the same look-ups:
//
//	GET /v1/spaces/{space}/collections/users/profiles/{type}:{value}/{traits|external_ids|events|metadata|links}
//
// {space} is the key's workspace; the key comes as Bearer or as Segment's
// Basic (auth.Token). Answers and errors have Segment's documented shapes;
// what Tributary does not keep (source ids, when an identifier was first
// seen, an event's context) is null or left out. Lists are paged as
// Segment's: limit, and next the key of the first item of the next page.

// segmentDoc is the document a Segment path asks for.
type segmentDoc string

const (
	segTraits      segmentDoc = "traits"
	segExternalIDs segmentDoc = "external_ids"
	segEvents      segmentDoc = "events"
	segMetadata    segmentDoc = "metadata"
	segLinks       segmentDoc = "links"
)

// segmentLimits are each list's default and largest limit: Segment's
// documented ones (10 traits by default, up to 200; links 20; any list
// 1 to 100).
var segmentLimits = map[segmentDoc][2]int{
	segTraits:      {10, 200},
	segExternalIDs: {10, 100},
	segEvents:      {10, 100},
	segLinks:       {20, 20},
}

// segmentQuery is one request of the Segment API, read before the
// look-up; render.segment writes its answer.
type segmentQuery struct {
	doc   segmentDoc
	space string // as sent, for cursor.url
	limit int
	next  string // the cursor: the key of the page's first item
	// include and exclude filter by name (traits), type (external ids)
	// or event name (events).
	include, exclude []string
	verbose          bool
	audiences        bool  // traits of class=audience: the segments the profile is in
	asc              bool  // events oldest first
	start, end       int64 // events from start, before end (Unix ns; 0: unbounded)
	segments         []string
	events           []speed.RecentEvent
}

// serveSegment answers a path under /v1/spaces/ (rest, still escaped) as
// Serve does the activation paths.
func (a *API) serveSegment(dst []byte, method, rest, rawQuery, authorization string) (body []byte, status int) {
	space, ref, doc, f := segmentRoute(rest)
	if f.status == 0 && method != http.MethodGet && method != http.MethodHead {
		f = failure{http.StatusMethodNotAllowed, "method_not_allowed", "use GET"}
	}
	var p cdp.Principal
	if f.status == 0 {
		p, f = a.principal(authorization)
	}
	if f.status == 0 && p.Workspace != space {
		f = failure{http.StatusForbidden, "forbidden", "the API key is of workspace " + p.Workspace + ", not of space " + space + ": the space id is the workspace id"}
	}
	q := &segmentQuery{doc: doc}
	if f.status == 0 {
		f = q.parse(rawQuery)
	}
	var id cdp.Identifier
	if f.status == 0 {
		id, f = a.identifier(p.Workspace, segmentRef(ref))
	}
	if f.status != 0 {
		return appendSegmentError(dst, f)
	}
	q.space, _, _ = strings.Cut(rest, "/")
	rd := a.renders.Get().(*render)
	rd.buf, rd.seg = dst, q
	dst, found := rd.view(p.Workspace, id, rd.segFn)
	if !found {
		return appendSegmentError(dst, failure{http.StatusNotFound, "not_found", "Profile was not found."})
	}
	return append(dst, '\n'), http.StatusOK
}

// segmentRoute splits {space}/collections/users/profiles/{ref}/{doc},
// unescaped. Paths with empty or dot segments are 404s, as the main
// port's mux, which cleans them, never routes them here.
func segmentRoute(rest string) (space, ref string, doc segmentDoc, f failure) {
	parts := strings.Split(rest, "/")
	for i, s := range parts {
		u, err := url.PathUnescape(s)
		if err != nil {
			return "", "", "", failure{http.StatusBadRequest, "invalid_identifier", "the path is not validly escaped"}
		}
		if u == "" || u == "." || u == ".." {
			parts = nil
			break
		}
		parts[i] = u
	}
	if len(parts) != 6 || parts[1] != "collections" || parts[3] != "profiles" {
		return "", "", "", failure{http.StatusNotFound, "not_found", "no such endpoint: GET /v1/spaces/{space}/collections/users/profiles/{type}:{value}/{traits|external_ids|events|metadata|links}"}
	}
	doc = segmentDoc(parts[5])
	switch doc {
	case segTraits, segExternalIDs, segEvents, segMetadata, segLinks:
	default:
		return "", "", "", failure{http.StatusNotFound, "not_found", "no such endpoint: /" + parts[5] + "; a profile has traits, external_ids, events, metadata and links"}
	}
	if parts[2] != "users" {
		return "", "", "", failure{http.StatusNotFound, "not_found", "no collection " + parts[2] + ": Tributary keeps the users collection only, no account profiles"}
	}
	return parts[0], parts[4], doc, failure{}
}

// segmentRef reads Segment's profile references: type:value as
// ours; segment_id:<id>, Segment's own profile id, as cdp_id:<id>; and a
// bare cdp id, as Segment's cursor urls hold its profile ids.
func segmentRef(ref string) string {
	typ, id, ok := strings.Cut(ref, ":")
	switch {
	case !ok && strings.HasPrefix(ref, "cdp_"):
		return "cdp_id:" + ref
	case ok && strings.EqualFold(strings.TrimSpace(typ), "segment_id"):
		return "cdp_id:" + id
	}
	return ref
}

// parse reads the query parameters of q.doc; the others (Segment's own
// cursor urls carry some) are ignored.
func (q *segmentQuery) parse(rawQuery string) failure {
	v, err := url.ParseQuery(rawQuery)
	if err != nil {
		return failure{http.StatusBadRequest, "validation_error", "the query is not validly escaped"}
	}
	bad := func(param, want string) failure {
		return failure{http.StatusBadRequest, "validation_error", "the parameter " + param + " " + strconv.Quote(v.Get(param)) + " must be " + want}
	}
	if lim, ok := segmentLimits[q.doc]; ok {
		q.limit, q.next = lim[0], v.Get("next")
		if s := v.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > lim[1] {
				return bad("limit", "an integer from 1 to "+strconv.Itoa(lim[1]))
			}
			q.limit = n
		}
	}
	if q.doc == segTraits || q.doc == segExternalIDs || q.doc == segMetadata {
		if s := v.Get("verbose"); s != "" {
			b, err := strconv.ParseBool(s)
			if err != nil {
				return bad("verbose", "true or false")
			}
			q.verbose = b
		}
	}
	if q.doc == segTraits || q.doc == segExternalIDs || q.doc == segEvents {
		q.include = names(v.Get("include"))
	}
	switch q.doc {
	case segTraits:
		switch v.Get("class") {
		case "":
		case "audience":
			q.audiences = true
		default:
			return bad("class", "audience: Tributary has no computed traits of Segment's kind (GET /v1/profiles/{type}:{value} has its computed values)")
		}
	case segEvents:
		q.exclude = names(v.Get("exclude"))
		switch v.Get("sort") {
		case "", "desc":
		case "asc":
			q.asc = true
		default:
			return bad("sort", "asc or desc")
		}
		for _, t := range []struct {
			param string
			ns    *int64
		}{{"start", &q.start}, {"end", &q.end}} {
			if s := v.Get(t.param); s != "" {
				ts, ok := parseISOTime(s)
				if !ok {
					return bad(t.param, "an ISO 8601 date or time, e.g. 2026-01-02 or 2026-01-02T15:04:05Z")
				}
				*t.ns = ts
			}
		}
		if q.next != "" {
			if _, _, ok := eventCursor(q.next); !ok {
				return bad("next", "a cursor of a previous answer")
			}
		}
	}
	return failure{}
}

// names splits a comma-separated list.
func names(s string) []string {
	if s == "" {
		return nil
	}
	l := strings.Split(s, ",")
	for i := range l {
		l[i] = strings.TrimSpace(l[i])
	}
	return l
}

func parseISOTime(s string) (int64, bool) {
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixNano(), true
		}
	}
	return 0, false
}

// eventCursor reads an events cursor: "<timestamp ns>.<seq>" of the first
// event of the page.
func eventCursor(s string) (ts, seq int64, ok bool) {
	a, b, ok := strings.Cut(s, ".")
	ts, err1 := strconv.ParseInt(a, 10, 64)
	seq, err2 := strconv.ParseInt(b, 10, 64)
	return ts, seq, ok && err1 == nil && err2 == nil
}

// segment writes q's document of p.
func (r *render) segment(p *speed.Profile) {
	q := r.seg
	switch q.doc {
	case segTraits:
		if q.audiences && r.api.cfg.Segments != nil {
			// Sorted, to page them; a copy, the slice is the store's.
			q.segments = append(q.segments, r.api.cfg.Segments(p)...)
			slices.Sort(q.segments)
		}
		r.buf = q.appendTraits(r.buf, p)
	case segExternalIDs:
		r.buf = q.appendExternalIDs(r.buf, p)
	case segEvents:
		r.buf = q.appendEvents(r.buf, p)
	case segMetadata:
		r.buf = appendMetadata(r.buf, p)
	case segLinks:
		r.buf = q.appendLinks(r.buf, p)
	}
}

func (q *segmentQuery) included(name string) bool {
	return (q.include == nil || slices.Contains(q.include, name)) && !slices.Contains(q.exclude, name)
}

// appendTraits writes {"traits":{…},"cursor":{…}}, the traits by name
// (or with class=audience each segment the profile is in as true); with
// verbose each is {"value","source_id","updated_at"}.
func (q *segmentQuery) appendTraits(b []byte, p *speed.Profile) []byte {
	b = append(b, `{"traits":{`...)
	n, next, more := 0, "", false
	add := func(name, value string, ts int64) bool {
		if name < q.next || !q.included(name) {
			return true
		}
		if n == q.limit {
			next, more = name, true
			return false
		}
		if n++; n > 1 {
			b = append(b, ',')
		}
		b = appendString(b, name)
		b = append(b, ':')
		if !q.verbose {
			b = append(b, value...)
			return true
		}
		b = append(b, `{"value":`...)
		b = append(b, value...)
		b = append(b, `,"source_id":null,"updated_at":`...)
		b = appendTime(b, ts)
		b = append(b, '}')
		return true
	}
	if q.audiences {
		for _, s := range q.segments {
			if !add(s, "true", 0) {
				break
			}
		}
	} else {
		for _, t := range p.Traits {
			if !add(t.Name(), t.Value(), t.TS) {
				break
			}
		}
	}
	b = append(b, '}')
	return q.appendCursor(b, p, next, more)
}

// appendExternalIDs writes {"data":[{"id","type","source_id","collection",
// "created_at","encoding"}],"cursor":{…}}, by type and value; next is
// "type:value".
func (q *segmentQuery) appendExternalIDs(b []byte, p *speed.Profile) []byte {
	b = append(b, `{"data":[`...)
	nextType, nextValue, _ := strings.Cut(q.next, ":")
	n, next, more := 0, "", false
	for _, id := range p.Identifiers {
		if id.Type < nextType || id.Type == nextType && id.Value < nextValue || !q.included(id.Type) {
			continue
		}
		if n == q.limit {
			next, more = id.String(), true
			break
		}
		if n++; n > 1 {
			b = append(b, ',')
		}
		b = appendExternalID(b, "users", id.Type, id.Value)
	}
	b = append(b, ']')
	return q.appendCursor(b, p, next, more)
}

// appendExternalID writes one of Segment's external ids; Tributary keeps
// neither the source that sent it nor when it was first seen.
func appendExternalID(b []byte, collection, typ, id string) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, id)
	b = append(b, `,"type":`...)
	b = appendString(b, typ)
	b = append(b, `,"source_id":null,"collection":`...)
	b = appendString(b, collection)
	return append(b, `,"created_at":null,"encoding":"none"}`...)
}

// appendEvents writes {"data":[{"type","message_id","source_id",
// "timestamp","properties"|"traits","properties_truncated"|
// "traits_truncated","event"|"name"|"group_id"|"previous_id","related"}],
// "cursor":{…}}: the recent events (speed.recent_events), newest first
// unless sort=asc.
func (q *segmentQuery) appendEvents(b []byte, p *speed.Profile) []byte {
	cts, cseq, cursor := eventCursor(q.next)
	for e := range p.RecentEvents() {
		switch {
		case e.TS < q.start || q.end != 0 && e.TS >= q.end || !q.included(e.Name):
		case cursor && !q.asc && (e.TS > cts || e.TS == cts && e.Seq > cseq):
		case cursor && q.asc && (e.TS < cts || e.TS == cts && e.Seq < cseq):
		default:
			q.events = append(q.events, e)
		}
	}
	if q.asc {
		slices.Reverse(q.events)
	}
	page, next, more := q.events, "", false
	if len(page) > q.limit {
		e := page[q.limit]
		page, next, more = page[:q.limit], strconv.FormatInt(e.TS, 10)+"."+strconv.FormatInt(e.Seq, 10), true
	}
	b = append(b, `{"data":[`...)
	for i, e := range page {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":`...)
		b = appendString(b, string(e.Type))
		b = append(b, `,"message_id":`...)
		b = appendString(b, e.MessageID)
		b = append(b, `,"source_id":null,"timestamp":`...)
		b = appendTime(b, e.TS)
		b = appendEventProperties(b, &e, &profileKeys)
		b = appendEventSubject(b, &e, &profileKeys)
		b = append(b, `,"related":{"users":`...)
		b = appendString(b, p.CDPID)
		b = append(b, "}}"...)
	}
	b = append(b, ']')
	return q.appendCursor(b, p, next, more)
}

// appendMetadata writes {"metadata":{…}}: created_at is the first event's
// time, updated_at the last change's; the first message is known while
// the recent events still hold every event.
func appendMetadata(b []byte, p *speed.Profile) []byte {
	var first, last string
	n := int64(0)
	for e := range p.RecentEvents() {
		if n == 0 {
			last = e.MessageID
		}
		first = e.MessageID
		n++
	}
	if n != p.EventsTotal {
		first = ""
	}
	b = append(b, `{"metadata":{"created_at":`...)
	b = appendTime(b, p.FirstSeen)
	b = append(b, `,"updated_at":`...)
	b = appendTime(b, p.UpdatedAt)
	b = append(b, `,"expires_at":null,"first_message_id":`...)
	b = appendStringOrNull(b, first)
	b = append(b, `,"first_source_id":null,"last_message_id":`...)
	b = appendStringOrNull(b, last)
	return append(b, `,"last_source_id":null}}`...)
}

// appendLinks writes {"data":[{"to_collection":"accounts","external_ids":
// [{… "type":"group_id" …}]}],"cursor":{…}}: the accounts of the profile's
// group calls, by group id.
func (q *segmentQuery) appendLinks(b []byte, p *speed.Profile) []byte {
	b = append(b, `{"data":[`...)
	n, next, more := 0, "", false
	for _, g := range p.Groups() {
		if g < q.next {
			continue
		}
		if n == q.limit {
			next, more = g, true
			break
		}
		if n++; n > 1 {
			b = append(b, ',')
		}
		b = append(b, `{"to_collection":"accounts","external_ids":[`...)
		b = appendExternalID(b, "accounts", "group_id", g)
		b = append(b, "]}"...)
	}
	b = append(b, ']')
	return q.appendCursor(b, p, next, more)
}

// appendCursor writes ,"cursor":{"url","has_more","next","limit"} and
// closes the document; url is the list's, the profile by its cdp id.
func (q *segmentQuery) appendCursor(b []byte, p *speed.Profile, next string, more bool) []byte {
	b = append(b, `,"cursor":{"url":`...)
	b = appendString(b, "/v1/spaces/"+q.space+"/collections/users/profiles/"+p.CDPID+"/"+string(q.doc))
	b = append(b, `,"has_more":`...)
	b = strconv.AppendBool(b, more)
	b = append(b, `,"next":`...)
	b = appendString(b, next)
	b = append(b, `,"limit":`...)
	b = strconv.AppendInt(b, int64(q.limit), 10)
	return append(b, "}}"...)
}

func appendStringOrNull(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendString(b, s)
}

// appendSegmentError appends Segment's error body,
// {"error":{"code":…,"message":…}} and a newline, with its codes where it
// documents one: authentication_error (401), validation_error (400).
func appendSegmentError(b []byte, f failure) ([]byte, int) {
	code := f.code
	switch f.status {
	case http.StatusUnauthorized:
		code = "authentication_error"
	case http.StatusBadRequest:
		code = "validation_error"
	}
	b = append(b, `{"error":{"code":`...)
	b = appendString(b, code)
	b = append(b, `,"message":`...)
	b = appendString(b, f.msg)
	return append(b, "}}\n"...), f.status
}
