package match_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tributary-cdp/tributary/internal/demo"
)

// The demo shop's CRM export (cdpctl demo) has namesakes by the hundred
// (50 first names, 50 last names, 5,000 customers) whose addresses differ
// only in a number; none may join, and every legacy copy must. The truth is
// the customer id: C1nnnnn, its legacy copy L0nnnnn.
func TestDemoShopNamesakesStayApart(t *testing.T) {
	shop := demo.Generate(demo.Config{Customers: 5000, Seed: 42, Now: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)})
	f := filepath.Join(t.TempDir(), "customers-export.csv")
	if err := os.WriteFile(f, shop.CRM, 0o644); err != nil {
		t.Fatal(err)
	}
	rep := evaluate(t, []string{f}, "First Name=first_name,Last Name=last_name,E-mail=email,Phone=phone,DOB=dob,City=city,Loyalty Tier=ignore",
		"Customer ID", `^[CL][01](\d+)$`)
	if fp := rep.PredictedPairs - rep.TruePositive; fp > 0 {
		t.Errorf("%d pairs join two customers (precision %.4f)", fp, rep.Precision)
	}
	if rep.TruePairs != int64(shop.CRMDuplicates) || rep.TruePositive != rep.TruePairs {
		t.Errorf("%d of %d legacy copies joined (the export has %d)", rep.TruePositive, rep.TruePairs, shop.CRMDuplicates)
	}
}
