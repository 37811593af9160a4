package demo

import (
	"bytes"
	"encoding/csv"
	"reflect"
	"testing"
	"time"
)

func TestGenerateIsDeterministicAndRealistic(t *testing.T) {
	cfg := Config{Customers: 500, Seed: 7, Now: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)}
	a, b := Generate(cfg), Generate(cfg)
	if !reflect.DeepEqual(a.Customers, b.Customers) || !bytes.Equal(a.CRM, b.CRM) || a.Events != b.Events {
		t.Fatal("same seed, different business")
	}
	if a.Registered+a.AnonymousOnly != 500 || a.Registered < 350 || a.AnonymousOnly < 50 {
		t.Fatalf("registered %d anonymous %d", a.Registered, a.AnonymousOnly)
	}
	n := 0
	for _, batch := range a.Batches {
		n += len(batch)
	}
	if n != a.Events || a.Events < 2500 {
		t.Fatalf("events %d in batches %d", a.Events, n)
	}
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(a.CRM, []byte("\ufeff")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows)-1 != a.CRMRows || a.CRMDuplicates == 0 || a.CRMBroken != 2 {
		t.Fatalf("CRM rows %d (want %d), duplicates %d", len(rows)-1, a.CRMRows, a.CRMDuplicates)
	}
}

func TestEventsPerCustomerTopsUpToTheVolumeAsked(t *testing.T) {
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	shop := Generate(Config{Customers: 1000, Seed: 42, Now: now})
	for _, tc := range []struct {
		name     string
		perCust  float64
		min, max int
	}{
		{"below the shop's own volume changes nothing", 2, shop.Events, shop.Events},
		{"ten per customer", 10, 10_000, 10_020},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := Generate(Config{Customers: 1000, Seed: 42, Now: now, EventsPerCustomer: tc.perCust})
			if b.Events < tc.min || b.Events > tc.max {
				t.Fatalf("%d events, want %d to %d", b.Events, tc.min, tc.max)
			}
			// The extra views add volume, not people.
			if !reflect.DeepEqual(b.Customers[0].AnonIDs, shop.Customers[0].AnonIDs) || b.Registered != shop.Registered {
				t.Fatal("topping up changed the customers")
			}
		})
	}
}

// NameOnly is the truth behind the demo's unjoined pairs: a web signup
// whose CRM row (not a legacy copy) has no email.
func TestNameOnlyCountsSignupsWhoseCRMRowHasNoEmail(t *testing.T) {
	b := Generate(Config{Customers: 2000, Seed: 42, Now: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)})
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b.CRM, []byte("\ufeff")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	noEmail := map[string]bool{}
	for _, r := range rows[1:] {
		noEmail[r[0]] = r[3] == ""
	}
	want := 0
	for _, c := range b.Customers {
		if c.UserID != "" && noEmail[c.CustomerID] {
			want++
		}
	}
	if want == 0 || b.NameOnly != want {
		t.Fatalf("NameOnly %d, want %d", b.NameOnly, want)
	}
}
