package match

import (
	"context"
	"fmt"
	"strings"
	"testing"

	tsql "github.com/tributary-cdp/tributary/sql"
)

// Tiny and degenerate inputs resolve without error: the resolve job runs
// the resolver on whatever a CRM source holds.
func TestResolveTinyInputs(t *testing.T) {
	ctx := context.Background()
	for n := 0; n <= 4; n++ {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s, err := tsql.Open(ctx, tsql.DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			cols := make([]string, len(Attributes))
			for i, a := range Attributes {
				cols[i] = a + " VARCHAR"
			}
			if err := s.Exec(ctx, "CREATE TEMP TABLE fs_input (id BIGINT, src INTEGER, "+strings.Join(cols, ", ")+")"); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < n; i++ {
				if err := s.Exec(ctx, "INSERT INTO fs_input (id, src, first_name, last_name, dob) VALUES ($1, 0, 'Ann', 'Lee', '1980-01-02')", i); err != nil {
					t.Fatal(err)
				}
			}
			r, err := New(s, DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			res, err := r.Resolve(ctx, "", false)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Labels) != n {
				t.Errorf("%d labels for %d records", len(res.Labels), n)
			}
		})
	}
}
