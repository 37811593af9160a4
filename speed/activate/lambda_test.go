package activate_test

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tributary-cdp/tributary/internal/testenv"
)

// TestLambdaAgreement holds the lambda promise: the batch layer and the
// speed layer compute the same profile from the same events. Random
// workloads (one per seed, each its own people) go through the collector;
// every person is read from the speed layer alone, then the batch chain
// builds from most of the events and reconcile loads that build under the
// rest; every person is read again and must answer the same, but for the
// cdp ids and updated_at.
//
// What only the batch layer can know is left out. Events only, no CRM
// source: the probabilistic matcher links CRM records only (the test
// checks it linked none). No email or phone goes over speed.caps: past it
// the speed layer's links follow the order it applied them (README), which
// a build cannot reproduce. The recent events, last_page and groups are
// not in a build: reconcile carries them from the live profiles, and the
// comparison checks that carrying.
//
// Two shops share the deployment: the seeds alternate between the default
// workspace, whose phone numbers without a country code are read in the
// US (identity.phone_region), and a UK one (its own phone_region), and
// each seed sends such numbers. Seeds 2k-1 and 2k send the same phone
// texts, one into each workspace: "020 7946 0018" is a London number in
// one and none in the other, "(415) 555-0018" a number of each country.
//
// TRIBUTARY_LAMBDA_SEEDS=1-30 (or 13, or 13,21) picks the seeds (default
// 1-3; phones stay unique within a workspace up to seed 400).
func TestLambdaAgreement(t *testing.T) {
	if testing.Short() {
		t.Skip("drives the real binary through the batch chain")
	}
	spec := cmp.Or(os.Getenv("TRIBUTARY_LAMBDA_SEEDS"), "1-3")
	seeds, err := parseSeeds(spec)
	if err != nil {
		t.Fatalf("TRIBUTARY_LAMBDA_SEEDS=%q: %v", spec, err)
	}
	in := testenv.Init(t).WithoutSchedules(t)
	// An identifier trait of the deployment's own, which clients send as
	// a number.
	cfgPath := filepath.Join(in.DataDir, "tributary.yaml")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	withCard := strings.Replace(string(cfg), "    identifier_traits:\n", "    identifier_traits:\n        loyalty_card: loyalty_id\n", 1)
	if withCard == string(cfg) {
		t.Fatal("the config has no speed.identifier_traits")
	}
	// The UK shop, with keys of its own.
	withUK := strings.Replace(withCard, "workspaces:\n", "workspaces:\n    - id: "+ukWorkspace+"\n      phone_region: GB\n"+
		"      write_keys: ["+ukWriteKey+"]\n      api_keys: [{name: admin, role: admin, key: "+ukAPIKey+"}]\n", 1)
	if withUK == withCard || !strings.Contains(withCard, "    phone_region: US\n") {
		t.Fatal("the config has no workspaces, or identity.phone_region is not US")
	}
	if err := os.WriteFile(cfgPath, []byte(withUK), 0o644); err != nil {
		t.Fatal(err)
	}
	// The segments of the evaluators' agreement test: traits, computed
	// values, identifiers and time windows.
	files, err := filepath.Glob(filepath.Join(testenv.ModuleRoot(t), "testdata", "segments", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("segments: %v, %d files", err, len(files))
	}
	// Each shop has them all.
	ukDir := t.TempDir()
	for _, f := range files {
		if filepath.Base(f) == "other_workspace.yaml" {
			continue
		}
		runCdpctl(t, in, nil, "segment", "add", f)
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		uk := strings.NewReplacer("workspace: default\n", "workspace: "+ukWorkspace+"\n", `"workspace": "default"`, `"workspace": "`+ukWorkspace+`"`).Replace(string(b))
		if uk == string(b) {
			t.Fatalf("%s: no workspace default to replace", f)
		}
		ukFile := filepath.Join(ukDir, filepath.Base(f))
		if err := os.WriteFile(ukFile, []byte(uk), 0o644); err != nil {
			t.Fatal(err)
		}
		runCdpctl(t, in, nil, "segment", "add", ukFile)
	}
	proc := in.Serve(t)

	// Every seed's workload in the one instance: the seeds share no
	// identifier but the blocked junk values, so they cannot meet.
	now := time.Now().UTC()
	var loads []*workload
	for _, s := range seeds {
		w := newWorkload(s, now)
		w.writeKey, w.apiKey = in.WriteKey, in.APIKey
		if w.workspace == ukWorkspace {
			w.writeKey, w.apiKey = ukWriteKey, ukAPIKey
		}
		loads = append(loads, w)
	}
	posted := 0
	send := func(w *workload, evs []map[string]any) {
		for len(evs) > 0 {
			n := min(len(evs), 40)
			if err := postAs(in, w.writeKey, "/v1/batch", map[string]any{"batch": evs[:n]}); err != nil {
				t.Fatal(err)
			}
			posted += n
			evs = evs[n:]
		}
	}
	// Most events go into the build; the rest come after its watermark,
	// so the reconcile replays them on top of the base.
	for _, w := range loads {
		send(w, w.events[:w.cut])
	}
	awaitApplied(t, in, posted)
	for _, stage := range []string{"land", "ingest", "cleanse", "resolve", "curate"} {
		out := runCdpctl(t, in, proc, "job", "run", stage)
		if stage == "resolve" && !strings.Contains(out, " 0 probabilistic)") {
			t.Fatalf("resolve made probabilistic links from events alone: %s", out)
		}
	}
	for _, w := range loads {
		send(w, w.events[w.cut:])
	}
	awaitApplied(t, in, posted)
	speed := make([]map[string]map[string]any, len(loads))
	for i, w := range loads {
		speed[i] = w.read(t, in)
	}
	failed := map[uint64]bool{}
	check := func(when string) {
		for i, w := range loads {
			after := w.read(t, in)
			if ref, d := firstDifference(w.keys, speed[i], after); d != "" {
				failed[w.seed] = true
				t.Errorf("seed %d (%d people, %d events), %s: %s: %s", w.seed, len(w.keys), len(w.events), when, ref, d)
				t.Logf("%s from the speed layer alone: %s\n%s: %s", ref, show(speed[i][ref]), when, show(after[ref]))
			}
		}
	}
	runCdpctl(t, in, proc, "job", "run", "reconcile")
	check("after reconcile")
	// A build over that base, of every event: nothing left to replay.
	runCdpctl(t, in, proc, "job", "run", "all")
	check("after a second build")
	people, inSegments := 0, 0
	for _, ps := range speed {
		for _, p := range ps {
			people++
			if segs, _ := p["segments"].([]any); len(segs) > 0 {
				inSegments++
			}
		}
	}
	t.Logf("%d seeds, %d events posted, %d people (%d in a segment), %d seeds disagreed", len(seeds), posted, people, inSegments, len(failed))
}

// parseSeeds reads "1-30", "13" or "13,21".
func parseSeeds(spec string) ([]uint64, error) {
	var seeds []uint64
	for _, f := range strings.Split(spec, ",") {
		lo, hi, isRange := strings.Cut(f, "-")
		a, err := strconv.ParseUint(lo, 10, 64)
		b := a
		if err == nil && isRange {
			b, err = strconv.ParseUint(hi, 10, 64)
		}
		if err != nil || b < a {
			return nil, fmt.Errorf("want seeds such as 1-30, 13 or 13,21")
		}
		for s := a; s <= b; s++ {
			seeds = append(seeds, s)
		}
	}
	return seeds, nil
}

// The UK shop of TestLambdaAgreement: the even seeds' workspace.
const (
	ukWorkspace = "uk"
	ukWriteKey  = "wk_uk_shop_0123456789"
	ukAPIKey    = "ak_uk_shop_0123456789"
)

// workload is one seed's events and the people they describe.
type workload struct {
	seed      uint64
	workspace string           // "default" (US phones) or ukWorkspace
	events    []map[string]any // in the order sent; retries repeat a messageId
	cut       int              // events[:cut] go into the build
	keys      []string         // one look-up reference per person
	// writeKey and apiKey are of the workspace's keys.
	writeKey, apiKey string
}

// junk identifier values the blocklist refuses: they link nothing.
var junk = []string{"unknown", "null", "0", "n/a", "undefined"}

func newWorkload(seed uint64, now time.Time) *workload {
	rng := rand.New(rand.NewPCG(seed, 7))
	w := &workload{seed: seed, workspace: "default"}
	if seed%2 == 0 {
		w.workspace = ukWorkspace
	}
	people := 20 + rng.IntN(31)
	zones := []*time.Location{time.UTC, time.FixedZone("", 5*3600+1800), time.FixedZone("", -8*3600), time.FixedZone("", 13*3600)}
	seq := 0
	var sent []map[string]any
	for i := range people {
		p := fmt.Sprintf("s%d-%d", seed, i)
		uid := "u-" + p
		anons := []string{"a-" + p + "-0", "a-" + p + "-1", "a-" + p + "-2"}
		known := rng.IntN(6) != 0 // else anonymous only
		if known {
			w.keys = append(w.keys, "user_id:"+uid)
		} else {
			w.keys = append(w.keys, "anonymous_id:"+anons[0])
		}
		email := []string{p + "@example.com", strings.ToUpper(p) + "@Example.COM", " " + p + "@example.com "}
		// UK numbers for drama, 1,000 an area, unique in a workspace up to
		// seed 400; the pair of seeds 2k-1 and 2k sends the same texts, one
		// into each workspace. Written without a country code, the UK
		// number is one only in the UK shop, and the US-looking one is
		// another number in each.
		n := int((seed+1)/2%200)*50 + i
		area := []string{"20 7946 0", "161 496 0", "113 496 0", "117 496 0", "121 496 0", "131 496 0", "141 496 0", "151 496 0", "191 498 0", "118 496 0"}[n/1000]
		phone := []string{fmt.Sprintf("+44 %s%03d", area, n%1000), fmt.Sprintf("+44%s%03d", strings.ReplaceAll(area, " ", ""), n%1000),
			fmt.Sprintf("0%s%03d", area, n%1000), fmt.Sprintf("(415) 555-%04d", n)}
		// Several days, whole seconds often, so equal timestamps happen.
		base := now.Add(-time.Duration(1+rng.IntN(5)) * 24 * time.Hour).Truncate(time.Second)
		stamp := func() time.Time {
			if rng.IntN(10) == 0 { // about the segments' 30- and 60-day windows
				return now.Add(-time.Duration(25+rng.IntN(40)) * 24 * time.Hour).Truncate(time.Hour)
			}
			return base.Add(time.Duration(rng.IntN(4*24*3600)) * time.Second)
		}
		who := func(e map[string]any) {
			switch {
			case known && rng.IntN(3) != 0:
				e["userId"] = uid
				if rng.IntN(20) == 0 {
					e["userId"] = []string{" ", "\u00a0", "\t"}[rng.IntN(3)] + uid + " " // trimmed by both layers
				}
				if rng.IntN(40) == 0 { // none in either layer, not uid cut short
					e["userId"] = uid + "\x00x"
				}
				if rng.IntN(3) == 0 {
					e["anonymousId"] = anons[rng.IntN(2)]
				}
				if rng.IntN(25) == 0 { // an id sent as a number, kept as spelt
					e["anonymousId"] = json.RawMessage(fmt.Sprintf("%d.50", seed*1000+uint64(i)))
				}
			case rng.IntN(30) == 0: // no usable identifier: counts nowhere
				e["userId"] = junk[rng.IntN(len(junk))]
			default:
				e["anonymousId"] = anons[rng.IntN(2)]
				if rng.IntN(8) == 0 {
					e["userId"] = junk[rng.IntN(len(junk))]
				}
			}
		}
		var lastIdentify time.Time
		// The person's order ids: completions copy them (a shop that sends
		// an order twice, a retry under a new messageId), refunds take them
		// off, before or after their order (the events are shuffled below).
		var orderIDs []any
		orderID := func() any {
			if len(orderIDs) > 0 && rng.IntN(3) == 0 {
				return orderIDs[rng.IntN(len(orderIDs))]
			}
			var id any = fmt.Sprintf("o-%d-%d", seed, seq)
			if rng.IntN(5) == 0 { // a number, kept as spelt
				id = json.RawMessage([]string{fmt.Sprint(seq), fmt.Sprintf("%d.0", seq)}[rng.IntN(2)])
			}
			orderIDs = append(orderIDs, id)
			return id
		}
		for range 4 + rng.IntN(12) {
			seq++
			ts := stamp()
			e := map[string]any{"messageId": fmt.Sprintf("m-%d-%d", seed, seq)}
			who(e)
			switch k := rng.IntN(20); {
			case k < 5:
				e["type"] = "identify"
				if !lastIdentify.IsZero() && rng.IntN(3) == 0 {
					ts = lastIdentify // the same timestamp as an earlier call
				}
				lastIdentify = ts
				traits := map[string]any{"plan": []string{"free", "pro", "team"}[rng.IntN(3)]}
				switch rng.IntN(4) {
				case 0:
					traits["email"] = email[rng.IntN(len(email))]
					if i > 0 && rng.IntN(15) == 0 { // a family's email: two people, one profile in both layers
						traits["email"] = fmt.Sprintf("s%d-%d@example.com", seed, i-1)
					}
				case 1:
					traits["phone"] = phone[rng.IntN(len(phone))]
				case 2:
					traits["email"] = []string{"test@test.com", "n/a", "none"}[rng.IntN(3)]
				}
				switch rng.IntN(3) {
				case 0:
					traits["age"] = 20 + rng.IntN(50)
				case 1:
					traits["age"] = strconv.Itoa(20 + rng.IntN(50))
				}
				if rng.IntN(2) == 0 {
					traits["address"] = map[string]any{"city": []string{"Paris", "Lyon", "Oslo"}[rng.IntN(3)], "zip": rng.IntN(99999)}
				}
				if rng.IntN(3) == 0 {
					traits["tags"] = []any{"vip", rng.IntN(10), map[string]any{"k": "v"}}
				}
				if rng.IntN(4) == 0 {
					traits["score"] = float64(rng.IntN(1000)) / 8
				}
				if rng.IntN(4) == 0 { // cleared, or emptied
					traits["plan"] = []any{nil, ""}[rng.IntN(2)]
				}
				if rng.IntN(4) == 0 { // numbers as spelt, and names that need escaping
					traits[[]string{"big", `we"ird\key`, "dotted.key", "ünï"}[rng.IntN(4)]] = []json.RawMessage{
						json.RawMessage(`1.50`), json.RawMessage(`1e3`), json.RawMessage(`-0`), json.RawMessage(`100000000000000000000`),
						json.RawMessage(`12345678901234567`), json.RawMessage(`"caf\u00e9"`), json.RawMessage(`true`), json.RawMessage(`[]`), json.RawMessage(`{}`),
					}[rng.IntN(9)]
				}
				if rng.IntN(5) == 0 { // an identifier sent as a number, kept as spelt
					n := seed*100 + uint64(i)
					traits["loyalty_card"] = json.RawMessage([]string{
						fmt.Sprint(n), fmt.Sprintf("%d.50", n), fmt.Sprintf("%de3", n), fmt.Sprintf("%d.5E-2", n), fmt.Sprintf("-%d.0", n),
					}[rng.IntN(5)])
				}
				switch rng.IntN(12) { // JSON that reads oddly
				case 0: // another case is another trait: never the email identifier
					traits["Email"] = fmt.Sprintf("s%d-%d@example.com", seed, (i+1)%people)
				case 1: // a U+0000 cuts a C string short: no identifier in either layer
					traits["email"] = email[0] + "\x00" + fmt.Sprintf("s%d-%d@example.com", seed, (i+1)%people)
				case 2: // text some clients send: a lone surrogate (a cut emoji), an escaped pair, Latin-1
					traits["nick"] = json.RawMessage([]string{`"Ann\ud83d"`, `"\udc00x"`, `"\ud83d\ude00"`, `"\\ud800"`, "\"Zo\xeb\""}[rng.IntN(5)])
				case 3: // nested deeper than the fast readers go, and long
					traits["deep"] = json.RawMessage(strings.Repeat(`{"email":`, 80) + `"x@example.com"` + strings.Repeat(`}`, 80))
					traits["deeper"] = json.RawMessage(strings.Repeat(`[`, 3000) + strings.Repeat(`]`, 3000))
					traits["bio"] = strings.Repeat("é", 5000)
				case 4: // an identifier trait that is no identifier
					traits["email"] = []any{nil, []any{email[0]}, ""}[rng.IntN(3)]
				case 5: // a segment's nested trait (address.city) repeated, escaped, in another case
					traits["address"] = json.RawMessage([]string{`{"city":"Oslo","city":"Paris"}`, `{"city":"Paris","city":"Oslo"}`,
						`{"c\u0069ty":"Berlin"}`, `{"City":"Paris"}`, `{"city":"Paris","City":"Oslo"}`, `{"city":null,"city":"Paris"}`}[rng.IntN(6)])
				case 6: // a name with U+0000 is no trait, not plan cut short
					traits["plan\x00x"] = "gold"
				}
				switch rng.IntN(30) {
				case 0: // an email that is none
					traits["email"] = []any{123, map[string]any{"a": email[0]}, true}[rng.IntN(3)]
				case 1: // a repeated key, as some serializers write one
					b, _ := json.Marshal(traits)
					e["traits"] = json.RawMessage(`{"plan":"first",` + string(b[1:len(b)-1]) + `,"plan":"last"}`)
				case 2: // an identifier trait repeated: the last value, never the first (another person's)
					b, _ := json.Marshal(traits)
					other, _ := json.Marshal(fmt.Sprintf("s%d-%d@example.com", seed, i+1))
					own, _ := json.Marshal(email[rng.IntN(len(email))])
					n := seed*100 + uint64(i)
					first, second := []string{
						`"email":` + string(other), `"email":` + string(other), `"loyalty_card":` + fmt.Sprint(n+1), `"email":` + string(own),
					}, []string{
						`"email":` + string(own), `"em\u0061il":` + string(own), `"loyalty_card":"` + fmt.Sprint(n) + `"`, `"email":{"a":` + string(own) + `}`,
					}
					k := rng.IntN(len(first))
					e["traits"] = json.RawMessage(`{` + first[k] + `,` + string(b[1:len(b)-1]) + `,` + second[k] + `}`)
				case 3: // an escaped key, and one escaped past a surrogate that is no pair
					b, _ := json.Marshal(traits)
					own, _ := json.Marshal(email[rng.IntN(len(email))])
					e["traits"] = json.RawMessage(`{` + string(b[1:len(b)-1]) + `,"em\u0061il":` + string(own) + `,"note\udbff":"\ud800"}`)
				}
				if e["traits"] == nil {
					e["traits"] = traits
				}
			case k < 7:
				e["type"], e["name"] = "page", []string{"Home", "Cart", ""}[rng.IntN(3)]
				props := map[string]any{}
				if rng.IntN(3) != 0 {
					props["url"] = fmt.Sprintf("https://shop.example/p/%d", rng.IntN(20))
				}
				if rng.IntN(2) == 0 {
					props["path"] = fmt.Sprintf("/p/%d", rng.IntN(20))
				}
				e["properties"] = props
				if e["name"] == "" {
					delete(e, "name")
				}
			case k < 8:
				e["type"], e["name"] = "screen", []string{"Feed", "Settings"}[rng.IntN(2)]
			case k < 9:
				e["type"], e["groupId"] = "group", fmt.Sprintf("g-%d-%d", seed, rng.IntN(4))
			case k < 10 && known:
				// An alias chain: a device id to another, then to the user.
				e = map[string]any{"messageId": e["messageId"], "type": "alias", "previousId": anons[2], "userId": anons[1]}
				switch rng.IntN(6) {
				case 0, 1, 2:
					e["previousId"], e["userId"] = anons[1], uid
				case 3:
					e["previousId"] = junk[rng.IntN(len(junk))]
				case 4: // two people found to be one
					e["previousId"] = fmt.Sprintf("u-s%d-%d", seed, rng.IntN(people))
				}
			case k < 13:
				e["type"], e["event"] = "track", "Order Completed"
				props := map[string]any{}
				if rng.IntN(8) != 0 { // else read alone
					props["order_id"] = orderID()
				}
				switch rng.IntN(10) {
				case 0:
					props["revenue"] = float64(rng.IntN(20000)) / 100
				case 1:
					props["total"] = float64(rng.IntN(20000)) / 100
				case 2:
					props["value"] = rng.IntN(300)
				case 3:
					props["products"] = []any{
						map[string]any{"price": float64(rng.IntN(5000)) / 100, "quantity": 1 + rng.IntN(3)},
						map[string]any{"price": 9.99},
					}
				case 4:
					props["revenue"] = strconv.Itoa(rng.IntN(100)) // a number sent as a string
				case 5:
					props["revenue"] = fmt.Sprintf("%d.%02d", rng.IntN(100), rng.IntN(100))
				case 6:
					props["revenue"], props["total"] = float64(rng.IntN(100))/3, 999
				case 7:
					props["products"] = []any{map[string]any{"price": "12.5", "quantity": "2"}, map[string]any{"quantity": 3}}
				case 8:
					props["revenue"] = -float64(rng.IntN(1000)) / 10
				case 9: // amounts as some clients spell them, some past float64
					props["revenue"] = []any{" 12.5 ", "1e3", "NaN", "Infinity", "1,5", "+5", ".5", "5.", "0x1p4", "1_000", true, nil, "", 1e300, "-0",
						json.RawMessage(`1e400`), json.RawMessage(`-1e400`), "1e400"}[rng.IntN(18)]
					if rng.IntN(2) == 0 { // read only when the revenue is none
						props["total"] = 7
					}
				}
				e["properties"] = props
				switch rng.IntN(12) {
				case 0: // keys in another case are other keys
					e["properties"] = map[string]any{"Revenue": 12, "ORDER_ID": orderID(), "Total": 3, "value": 1}
				case 1: // a key twice: the last is the one read
					e["properties"] = json.RawMessage(fmt.Sprintf(`{"revenue":%d,"order_id":%q,"revenue":4,"order_id":"dup"}`, rng.IntN(50), orderID()))
				}
			case k < 14:
				e["type"], e["event"] = "track", "Order Refunded"
				props := []map[string]any{{"total": float64(rng.IntN(5000)) / 100}, {"revenue": 5}, {"products": []any{map[string]any{"price": 3.25, "quantity": 2}}},
					{}, {"total": 999}, {"total": 999, "revenue": 2}, {"products": []any{map[string]any{"quantity": 2}}}, {"value": -3},
					{"products": []any{1, map[string]any{"price": 2}, nil}}, {"products": "none", "value": 1}}[rng.IntN(10)]
				if rng.IntN(5) != 0 { // else read alone
					props["order_id"] = orderID()
				}
				e["properties"] = props
			default:
				e["type"], e["event"] = "track", []string{"Product Viewed", "Signed Up", "Cart Viewed", `Said "hi"`, "Vu à Paris", "a.b", "order completed",
					"Liked \U0001F600", "nul\x00name", "\ufeffSigned Up"}[rng.IntN(10)]
				switch rng.IntN(4) {
				case 0: // an amount on an event that is no order
					e["properties"] = map[string]any{"revenue": 10, "price": 5}
				case 1: // a lone surrogate in properties
					e["properties"] = json.RawMessage(`{"name":"Mug \ud83d","order_id":"\udfff"}`)
				}
			}
			switch rng.IntN(20) {
			case 0: // a client's unset clock
				ts = time.Unix(0, 0)
			case 1, 2: // sub-microsecond digits
				ts = ts.Add(time.Duration(rng.IntN(1e9)))
			case 3: // a skewed clock, corrected by sentAt
				e["sentAt"] = ts.Add(time.Hour).Format(time.RFC3339Nano)
			case 4: // before the epoch, or far ahead
				ts = []time.Time{time.Date(1965, 3, 1, 12, 0, 0, 1500, time.UTC), time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)}[rng.IntN(2)]
			case 5: // past what nanoseconds since the epoch hold (1678 to 2262), or Go's zero time
				ts = []time.Time{time.Date(1600, 2, 29, 0, 0, 0, 0, time.UTC), time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), {},
					time.Date(9999, 12, 30, 23, 59, 59, 999999999, time.UTC)}[rng.IntN(4)]
			}
			e["timestamp"] = ts.In(zones[rng.IntN(len(zones))]).Format(time.RFC3339Nano)
			sent = append(sent, e)
		}
	}
	// Out of order, and some events retried with the same messageId.
	rng.Shuffle(len(sent), func(i, j int) { sent[i], sent[j] = sent[j], sent[i] })
	for _, e := range sent {
		w.events = append(w.events, e)
		if rng.IntN(12) == 0 {
			w.events = append(w.events, e)
		}
	}
	w.cut = len(w.events) * 4 / 5
	// Retries that come late, after the build's watermark.
	for range len(w.events) / 40 {
		w.events = append(w.events, w.events[rng.IntN(w.cut)])
	}
	return w
}

// read returns every person's profile as the look-up answers it, with the
// recent events, keyed by the person's reference.
func (w *workload) read(t *testing.T, in *testenv.Instance) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, ref := range w.keys {
		req, _ := http.NewRequest("GET", in.URL()+"/v1/profiles/"+url.PathEscape(ref)+"?include=events", nil)
		req.Header.Set("Authorization", "Bearer "+w.apiKey)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case 200:
		case 404:
			continue // a person whose every identifier is junk has no profile in either layer
		default:
			t.Fatalf("GET %s: %d %s", ref, resp.StatusCode, b)
		}
		var p map[string]any
		d := json.NewDecoder(strings.NewReader(string(b)))
		d.UseNumber()
		if err := d.Decode(&p); err != nil {
			t.Fatal(err)
		}
		out[ref] = comparable(p)
	}
	return out
}

// comparable drops what only names a build: the cdp ids and updated_at.
func comparable(p map[string]any) map[string]any {
	delete(p, "cdp_id")
	delete(p, "updated_at")
	if ids, ok := p["identifiers"].([]any); ok {
		p["identifiers"] = slices.DeleteFunc(ids, func(id any) bool {
			m, _ := id.(map[string]any)
			return m["type"] == "cdp_id"
		})
	}
	return p
}

// firstDifference names the first person (in keys order) whose profiles
// differ, and the first field where they do.
func firstDifference(keys []string, speed, after map[string]map[string]any) (ref, diff string) {
	for _, k := range keys {
		a, aok := speed[k]
		b, bok := after[k]
		if aok != bok {
			return k, fmt.Sprintf("found by the speed layer %v, after %v", aok, bok)
		}
		if d := diffJSON("", a, b); d != "" {
			return k, d
		}
	}
	return "", ""
}

func diffJSON(path string, a, b any) string {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: %s from the speed layer alone, %s then", path, show(a), show(b))
		}
		keys := map[string]bool{}
		for k := range x {
			keys[k] = true
		}
		for k := range y {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			if d := diffJSON(path+"."+k, x[k], y[k]); d != "" {
				return d
			}
		}
		return ""
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return fmt.Sprintf("%s: %s from the speed layer alone, %s then", path, show(a), show(b))
		}
		for i := range x {
			if d := diffJSON(fmt.Sprintf("%s[%d]", path, i), x[i], y[i]); d != "" {
				return d
			}
		}
		return ""
	}
	if !reflect.DeepEqual(a, b) {
		return fmt.Sprintf("%s: %s from the speed layer alone, %s then", path, show(a), show(b))
	}
	return ""
}

func show(v any) string {
	if v == nil {
		return "(none)"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// awaitApplied waits until the speed layer has read n events of
// cdp.events (applied or deduplicated).
func awaitApplied(t *testing.T, in *testenv.Instance, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := metricSum(in, "tributary_speed_events_applied_total")
		if int(got) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the speed layer read %v of %d events", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metricSum adds up the series of a metric that serve's /metrics reports
// (0 when it does not answer).
func metricSum(in *testenv.Instance, name string) float64 {
	got := 0.0
	resp, err := client.Get(in.URL() + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			got += v
		}
	}
	return got
}
