package curate

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	tsql "github.com/tributary-cdp/tributary/sql"
)

// jsonKeys returns an object's keys in the order the text has them.
func jsonKeys(t *testing.T, s string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", s)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		keys = append(keys, tok.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return keys
}

// The golden objects list their keys in name order (byte order, as Go
// compares strings) however many attributes there are: one level of
// goldenSQL up to goldenRadix, more past it.
func TestGoldenKeysInNameOrder(t *testing.T) {
	ctx := context.Background()
	sess, err := tsql.Open(ctx, tsql.Config{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	tricky := []string{"a", "a b", "a!", "ab", `a"q`, `a\`, "A", "é", "_", "z", "a\tb"}
	for _, n := range []int{0, 1, 7, goldenRadix, goldenRadix + 1, 300} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			attrs := append([]string{}, tricky[:min(n, len(tricky))]...)
			for i := len(attrs); i < n; i++ {
				attrs = append(attrs, fmt.Sprintf("t%03d", (i*7919)%1000))
			}
			rng := rand.New(rand.NewPCG(1, uint64(n)))
			want := map[int][]string{}
			var rows []string
			for pid := 1; pid <= 50 && n > 0; pid++ {
				for _, a := range attrs {
					if rng.IntN(3) > 0 || len(want[pid]) == 0 {
						want[pid] = append(want[pid], a)
						rows = append(rows, fmt.Sprintf("(%d, %s)", pid, tsql.QuoteLiteral(a)))
					}
				}
				slices.Sort(want[pid])
			}
			rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
			rows = append(rows, "(NULL, NULL)") // VALUES needs a row when n is 0; the WHERE drops it
			for _, q := range []string{
				`CREATE OR REPLACE TEMP TABLE cur_candidates AS SELECT pid, attr, to_json(attr || '/' || pid) AS value, 'events' AS source,
					'm' || pid AS record, TIMESTAMP '2026-11-22 12:00:00' AS ts, 0 AS kafka_partition, pid AS kafka_offset FROM (VALUES ` + strings.Join(rows, ", ") + `) AS v(pid, attr) WHERE attr IS NOT NULL`,
				`CREATE OR REPLACE TEMP TABLE cur_event_traits (x INTEGER)`,
				`CREATE OR REPLACE TEMP TABLE cur_rules (attr VARCHAR, rule VARCHAR, priority VARCHAR[])`,
			} {
				if err := sess.Exec(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			if err := sess.Run(ctx, "curate_winners.sql", map[string]any{"default_rule": RuleMostRecent}); err != nil {
				t.Fatal(err)
			}
			if err := createGolden(ctx, sess); err != nil {
				t.Fatal(err)
			}
			res, err := sess.Query(ctx, `SELECT pid, traits, provenance FROM cur_golden`)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Close()
			seen := 0
			for res.Next() {
				var pid int
				var traits, prov string
				if err := res.Scan(&pid, &traits, &prov); err != nil {
					t.Fatal(err)
				}
				seen++
				if k := jsonKeys(t, traits); !slices.Equal(k, want[pid]) {
					t.Fatalf("profile %d traits keys %q, want %q", pid, k, want[pid])
				}
				if k := jsonKeys(t, prov); !slices.Equal(k, want[pid]) {
					t.Fatalf("profile %d provenance keys %q, want %q", pid, k, want[pid])
				}
				var tr map[string]string
				var pr map[string]struct{ Source, Record, Time string }
				if err := json.Unmarshal([]byte(traits), &tr); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal([]byte(prov), &pr); err != nil {
					t.Fatal(err)
				}
				for _, a := range want[pid] {
					if p := pr[a]; tr[a] != fmt.Sprintf("%s/%d", a, pid) || p.Source != "events" || p.Record != fmt.Sprint("m", pid) || p.Time != "2026-11-22T12:00:00.000000Z" {
						t.Fatalf("profile %d %q: value %q, provenance %+v", pid, a, tr[a], p)
					}
				}
			}
			if seen != len(want) {
				t.Fatalf("%d profiles, want %d", seen, len(want))
			}
		})
	}
}
