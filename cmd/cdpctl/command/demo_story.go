package command

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tributary-cdp/tributary/batch/ingest"
	"github.com/tributary-cdp/tributary/batch/reconcile"
	"github.com/tributary-cdp/tributary/internal/config"
	"github.com/tributary-cdp/tributary/internal/demo"
	"github.com/tributary-cdp/tributary/jobs"
	tsql "github.com/tributary-cdp/tributary/sql"
)

// demoSegments are the segments the demo defines in its config.
var demoSegments = []string{
	`id: high_value
workspace: default
description: Spent over 250 or ordered 3 times or more
condition:
  any:
    - computed: {name: revenue_total, op: gt, value: 250}
    - computed: {name: orders_total, op: gte, value: 3}
`,
	`id: window_shoppers
workspace: default
description: Viewed products at least twice in 60 days and never ordered
condition:
  all:
    - event: {name: Product Viewed, min_count: 2, within_days: 60}
    - computed: {name: orders_total, op: eq, value: 0}
`,
	`id: reachable_by_email
workspace: default
condition:
  identifier: {type: email}
`,
}

// demoStory is the demo after the server is up: web traffic, a CRM drop,
// the batch chain, and what the speed layer answers afterwards.
func demoStory(ctx context.Context, d *demoEnv, s *server, cfg config.Config) error {
	out := d.out
	biz := demo.Generate(demo.Config{Customers: d.customers, Seed: 42, Now: time.Now().UTC()})
	fmt.Fprintf(out, "1. A shop with %d customers: %d signed up on the web, %d only browsed anonymously, %d ordered\n",
		len(biz.Customers), biz.Registered, biz.AnonymousOnly, biz.Ordering)

	start := time.Now()
	if err := d.sendAll(ctx, biz.Batches); err != nil {
		return err
	}
	took := time.Since(start)
	fmt.Fprintf(out, "2. Sent %d web events through the Segment-compatible collector in %s (%.0f events/s, acks=all)\n",
		biz.Events, took.Round(time.Millisecond), float64(biz.Events)/took.Seconds())

	if err := waitFor(ctx, 60*time.Second, func() bool { return s.speed.Lag() == 0 && s.speed.Store().Stats().Applied >= int64(biz.Events) }); err != nil {
		return fmt.Errorf("speed layer did not catch up: %w", err)
	}
	before := s.speed.Store().Stats()
	fmt.Fprintf(out, "3. Speed layer, real time: %d profiles from %d events (anonymous browsing stitched to logins by identify calls)\n",
		before.Profiles, before.Applied)

	env, err := openJobEnv(ctx, cfg, cfg.Brokers())
	if err != nil {
		return err
	}
	drop := filepath.Join(d.dataDir, "drops", "crm")
	if err := os.MkdirAll(drop, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(drop, "customers-export.csv"), biz.CRM, 0o644); err != nil {
		return err
	}
	src, err := ingest.ParseSource([]byte(demo.SourceDefinition(drop)))
	if err != nil {
		return fmt.Errorf("demo source: %w", err)
	}
	if err := ingest.NewStore(env.lake).Add(ctx, src, true); err != nil {
		return err
	}
	fmt.Fprintf(out, "4. The CRM dropped customers-export.csv: %d rows (BOM, CRLF, mixed phone and date formats, %d legacy duplicates, %d broken rows)\n",
		biz.CRMRows, biz.CRMDuplicates, biz.CRMBroken)

	fmt.Fprintln(out, "5. Batch chain: cdpctl job run all")
	runner, err := env.runner(true, "demo")
	if err != nil {
		return err
	}
	rec, err := runner.Run(ctx, "all", jobs.Params{})
	if rec != nil {
		for _, l := range strings.Split(strings.TrimSpace(rec.Summary), "\n") {
			fmt.Fprintf(out, "   %s\n", l)
		}
	}
	if err != nil {
		return err
	}

	if req, _ := reconcile.ReadRequest(ctx, env.lake); req != nil {
		_ = waitFor(ctx, 60*time.Second, func() bool {
			acks, _ := reconcile.Acks(ctx, env.lake)
			for _, a := range acks {
				if a.Version >= req.Version {
					return true
				}
			}
			return false
		})
	}
	after := s.speed.Store().Stats()
	fmt.Fprintf(out, "6. After resolution and reconcile the speed layer serves the batch build: %d profiles (was %d)\n", after.Profiles, before.Profiles)
	d.showResolution(ctx, env, biz.NameOnly)

	if err := d.showMergedProfile(ctx, env, biz); err != nil {
		fmt.Fprintf(out, "   (no merged profile to show: %v)\n", err)
	}
	d.showSegments(ctx, env)
	return nil
}

// sendAll posts the batches from 4 concurrent clients.
func (d *demoEnv) sendAll(ctx context.Context, batches [][]map[string]any) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(batches))
	next := make(chan []map[string]any)
	for range 4 {
		wg.Go(func() {
			for b := range next {
				if err := d.send(ctx, "/v1/batch", map[string]any{"batch": b}); err != nil {
					errs <- err
				}
			}
		})
	}
	for _, b := range batches {
		next <- b
	}
	close(next)
	wg.Wait()
	close(errs)
	return <-errs
}

func (d *demoEnv) lookup(ctx context.Context, typ, value string) (map[string]any, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.base+"/v1/profiles/"+url.PathEscape(typ+":"+value), nil)
	req.Header.Set("Authorization", "Bearer "+d.apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /v1/profiles/%s:%s: %s %s", typ, value, resp.Status, strings.TrimSpace(string(b)))
	}
	var p map[string]any
	return p, json.Unmarshal(b, &p)
}

// showMergedProfile picks a customer with web logins, two devices and a
// CRM record, and shows the profile the look-up API returns.
func (d *demoEnv) showMergedProfile(ctx context.Context, env *jobEnv, biz *demo.Business) error {
	var pick *demo.Customer
	for i := range biz.Customers {
		c := &biz.Customers[i]
		if c.UserID != "" && len(c.AnonIDs) > 1 && c.Orders > 0 && c.InCRM {
			pick = c
			break
		}
	}
	if pick == nil {
		return fmt.Errorf("no customer with two devices, orders and a CRM record")
	}
	p, err := d.lookup(ctx, "customer_id", pick.CustomerID)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "7. GET /v1/profiles/customer_id:%s (the CRM id) returns the person the web knows as %s:\n", pick.CustomerID, pick.UserID)
	b, _ := json.MarshalIndent(map[string]any{"cdp_id": p["cdp_id"], "identifiers": p["identifiers"], "traits": p["traits"],
		"computed": p["computed"], "segments": p["segments"]}, "   ", "  ")
	fmt.Fprintf(d.out, "   %s\n", b)
	for _, id := range [][2]string{{"anonymous_id", pick.AnonIDs[1]}, {"email", strings.ToUpper(pick.Email)}} {
		q, err := d.lookup(ctx, id[0], id[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(d.out, "   GET /v1/profiles/%s:%s → same cdp_id: %v\n", id[0], id[1], q["cdp_id"] == p["cdp_id"])
	}
	return nil
}

// lakeSession opens DuckDB over the lake's views.
func (d *demoEnv) lakeSession(ctx context.Context, env *jobEnv) (*tsql.Session, error) {
	views, err := tsql.LakeViews(ctx, env.lake, filepath.Join(d.dataDir, "cache", "lake"))
	if err != nil {
		return nil, err
	}
	sess, err := tsql.Open(ctx, tsql.DefaultConfig())
	if err != nil {
		return nil, err
	}
	if err := sess.CreateViews(ctx, views); err != nil {
		sess.Close()
		return nil, err
	}
	return sess, nil
}

// showResolution breaks the profiles of the build down by where their
// identifiers come from. nameOnly is the generator's count of web signups
// whose CRM row shares nothing with them but a name.
func (d *demoEnv) showResolution(ctx context.Context, env *jobEnv, nameOnly int) {
	sess, err := d.lakeSession(ctx, env)
	if err != nil {
		return
	}
	defer sess.Close()
	var both, webOnly, crmOnly, dupes int64
	err = sess.QueryRow(ctx, `WITH c AS (
		SELECT cdp_id,
		  bool_or(id_type IN ('user_id', 'anonymous_id')) AS web,
		  bool_or(id_type = 'customer_id') AS crm,
		  count(*) FILTER (WHERE id_type = 'customer_id') AS crm_records
		FROM identity_map GROUP BY 1)
		SELECT count(*) FILTER (web AND crm), count(*) FILTER (web AND NOT crm), count(*) FILTER (crm AND NOT web),
		  count(*) FILTER (crm_records > 1) FROM c`).Scan(&both, &webOnly, &crmOnly, &dupes)
	if err != nil {
		return
	}
	fmt.Fprintf(d.out, "   %d web profiles joined their CRM record (by email, customer id, phone or Fellegi–Sunter),\n", both)
	fmt.Fprintf(d.out, "   %d CRM profiles absorbed a duplicate record, %d stay web-only (anonymous or no CRM record), %d CRM-only\n", dupes, webOnly, crmOnly)
	fmt.Fprintf(d.out, "   (no web login); %d signups are in both counts: their CRM row has no email, and a name alone is no identifier\n", nameOnly)
	fmt.Fprintf(d.out, "   (namesakes abound). Why two ids are one: cdpctl identity explain email:<address>\n")
}

// showSegments prints segment sizes from the curated build (DuckDB over the lake).
func (d *demoEnv) showSegments(ctx context.Context, env *jobEnv) {
	sess, err := d.lakeSession(ctx, env)
	if err != nil {
		return
	}
	defer sess.Close()
	rows, err := sess.Query(ctx, `SELECT segment_id, count(*) FROM segment_membership GROUP BY ALL ORDER BY 1`)
	if err != nil {
		return
	}
	defer rows.Close()
	sizes := map[string]int64{}
	for rows.Next() {
		var id string
		var n int64
		if rows.Scan(&id, &n) == nil {
			sizes[id] = n
		}
	}
	ids := make([]string, 0, len(sizes))
	for id := range sizes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	fmt.Fprintln(d.out, "8. Segments (batch membership; the speed layer keeps them live):")
	for _, id := range ids {
		fmt.Fprintf(d.out, "   %-20s %6d profiles\n", id, sizes[id])
	}
	fmt.Fprintf(d.out, "   To explore afterwards, keep the data (make demo DEMO_FLAGS=--keep, or cdpctl demo --keep), then:\n")
	fmt.Fprintf(d.out, "   bin/cdpctl sql --data-dir %s \"SELECT segment_id, count(*) FROM segment_membership GROUP BY ALL\"\n", d.dataDir)
}

// waitFor polls cond every 50 ms until it holds or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("still waiting after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}
