package resolve

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tributary-cdp/tributary/batch/ingest"
	"github.com/tributary-cdp/tributary/identity"
	"github.com/tributary-cdp/tributary/identity/synth"
	"github.com/tributary-cdp/tributary/lake/local"
	tsql "github.com/tributary-cdp/tributary/sql"
	"github.com/tributary-cdp/tributary/sql/sqltest"
)

// A CRM export where every row has its own customer id: only the
// probabilistic edges can join one person's rows. Scored against the
// generator's truth.
func TestResolveProbabilisticCRM(t *testing.T) {
	ctx := context.Background()
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	gcfg := synth.DefaultConfig()
	gcfg.Records, gcfg.Seed = 3000, 11
	g, err := synth.New(gcfg)
	if err != nil {
		t.Fatal(err)
	}
	csv := filepath.Join(t.TempDir(), "crm.csv")
	var b strings.Builder
	b.WriteString("customer_id,first_name,last_name,birth_date,phone_number,street,city,zip,person_id,_file,_line,_ingested_at\n")
	truth := map[string]string{}
	for i := 0; ; i++ {
		r, ok := g.Next()
		if !ok {
			break
		}
		truth["C"+r.ID] = r.PersonID
		fmt.Fprintf(&b, "C%s,%q,%q,%q,%q,%q,%q,%q,%s,crm.csv,%d,2026-11-01 00:00:00\n", r.ID, r.FirstName, r.LastName, r.DOB, r.Phone, r.Street, r.City, r.Postcode, r.PersonID, i+2)
	}
	if err := os.WriteFile(csv, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	sqltest.Commit(t, st, "raw/crm", "raw/crm/workspace=default/date=2026-11-01/x.parquet",
		"SELECT * FROM read_csv("+tsql.QuoteLiteral(csv)+", all_varchar = true)", nil)
	src, err := ingest.ParseSource([]byte(`name: crm
workspace: default
location: file:///tmp/none
format: {type: csv}
kind: profiles
fields:
  customer_id: {identifier: customer_id, required: true}
  first_name: {}
  last_name: {}
  birth_date: {}
  phone_number: {}
  street: {}
  city: {}
  zip: {}
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Storage, cfg.SpoolDir, cfg.CacheDir, cfg.Sources = st, t.TempDir(), t.TempDir(), []*ingest.Source{src}
	rep, err := Run(ctx, cfg, "run1")
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	m := readMap(t, st)
	var cluster []int
	var entity []string
	ids := map[string]int{}
	for c, person := range truth {
		id, ok := m["customer_id:"+c]
		if !ok {
			t.Fatalf("customer %s not in the map", c)
		}
		if _, ok := ids[id]; !ok {
			ids[id] = len(ids)
		}
		cluster = append(cluster, ids[id])
		entity = append(entity, person)
	}
	pc := identity.CountPairs(cluster, entity, nil)
	t.Logf("precision %.3f recall %.3f F1 %.3f (%d true pairs)", pc.Precision(), pc.Recall(), pc.F1(), pc.TruePairs)
	if rep.ProbabilisticEdges == 0 || pc.Recall() < 0.9 || pc.Precision() < 0.6 {
		t.Errorf("probabilistic CRM links: %d edges, precision %.3f, recall %.3f", rep.ProbabilisticEdges, pc.Precision(), pc.Recall())
	}
}
