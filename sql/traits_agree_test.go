package sql_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/speed"
	"github.com/tributary-cdp/tributary/sql"
)

// The batch layer reads identify traits as the speed layer does: the same
// identifiers (trait_identifier, then usable_identifier) and the same
// members (json_members), whatever the JSON looks like: keys escaped,
// repeated or in another case, identifiers of every JSON type, odd text.
func TestTraitsAgreeWithSpeed(t *testing.T) {
	s := open(t)
	idTraits := map[string]string{"email": cdp.IDEmail, "phone": cdp.IDPhone, "loyalty_card": "loyalty_id", "a.b": "dotted"}
	cfg := speed.DefaultStoreConfig()
	cfg.IdentifierTraits = idTraits
	prep := speed.NewPreparer(cfg)
	deep := strings.Repeat(`{"x":`, 200) + `"a@x.co"` + strings.Repeat(`}`, 200)
	long := strings.Repeat("a", 100_000) + "@x.co"
	for i, traits := range []string{
		`{"email":"Ann@Example.COM"}`,
		`{"em\u0061il":"a@x.co"}`,
		`{"email":"a@x.co","email":"b@x.co"}`,
		`{"email":"a@x.co","em\u0061il":"b@x.co"}`,
		`{"Email":"a@x.co"}`,
		`{"EMAIL":"a@x.co","email":"b@x.co"}`,
		`{"email":"b@x.co","Email":"a@x.co"}`,
		`{"email":123}`, `{"email":{"email":"a@x.co"}}`, `{"email":["a@x.co"]}`, `{"email":true}`, `{"email":null}`,
		`{"email":" \u00c9MILE@Exämple.com "}`, `{"email":"\tA@X.CO\n"}`, `{"email":"a@x.co\u0000"}`, `{"email":"\u0000"}`, `{"phone":"+14155552671\u0000"}`, `{"loyalty_card":"7\u00007"}`,
		`{"email":"\ud83d\ude00@x.co"}`,
		`{"email":"` + long + `"}`,
		`{"deep":` + deep + `,"email":"d@x.co"}`, `{"deep":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `,"email":"d@x.co"}`,
		`{"x":{"email":"n@x.co"}}`, `{"x":{"email":"n@x.co"},"email":"t@x.co"}`, `{"x":"email","email":"t@x.co"}`,
		`{"x":"\"email\"","email":"t@x.co"}`, `{"email":"a\"b@x.co"}`, `{"email":"a\\b@x.co"}`,
		`{"phone":"+1 (415) 555-2671"}`, `{"phone":"415.555.2671"}`, `{"phone":4155552671}`, `{"phone":14155552671}`, `{"phone":"+1-415-555-2671 ext. 12"}`,
		`{"phone":"\uff0b1 415 555 2671"}`, `{"phone":1.4155552671e10}`, `{"phone":"tel:+14155552671"}`,
		`{"loyalty_card":1e400}`, `{"loyalty_card":-0}`, `{"loyalty_card":12.50}`, `{"loyalty_card":12.5}`, `{"loyalty_card":-1e-400}`,
		`{"loyalty_card":"12.50","loyalty_card":12.5}`, `{"loyalty_card":100000000000000000000000000000}`,
		`{"a.b":"x1"}`, `{"a":{"b":"x2"}}`, `{"a.b":"x1","a":{"b":"x2"}}`, `{"a\u002eb":"x3"}`,
		`{"a\u0000b":1,"a":2}`, `{"a\u0000":"\u0000"}`, `{}`, `{ }`, ` {"email" : "s@x.co" } `, `{"":"e@x.co"}`, `{"email":""}`, `{"email":"  "}`,
	} {
		ev := `{"workspace":"w","messageId":"m","type":"identify","userId":"u","timestamp":"2026-11-01T00:00:00Z","receivedAt":"2026-11-01T00:00:00Z","traits":` + traits + `}`
		o := prep.Prepare(0, int64(i), []byte(ev))
		if o.Err != nil {
			t.Errorf("speed refuses traits %.80s: %v", traits, o.Err)
			continue
		}
		var want []string
		for _, id := range o.IDs {
			if id.Type != cdp.IDUserID {
				want = append(want, id.Type+":"+id.Value)
			}
		}
		var members []string
		for _, tr := range o.Traits {
			members = append(members, tr.Name()+"="+tr.Value())
		}
		got, gotMembers := batchTraits(t, s, traits, idTraits)
		slices.Sort(want)
		slices.Sort(members)
		if !slices.Equal(got, want) {
			t.Errorf("traits %.80s: the batch layer reads identifiers %.200q, the speed layer %.200q", traits, got, want)
		}
		if !slices.Equal(gotMembers, members) {
			t.Errorf("traits %.80s: the batch layer reads members %.200q, the speed layer %.200q", traits, gotMembers, members)
		}
	}
}

// batchTraits reads traits as cleanse and curate do.
func batchTraits(t *testing.T, s *sql.Session, traits string, idTraits map[string]string) (ids, members []string) {
	t.Helper()
	ctx := context.Background()
	for trait, typ := range idTraits {
		var v *string
		if err := s.QueryRow(ctx, "SELECT usable_identifier('w', $2, whole(trait_identifier($1, $3, $4)))", traits, typ, trait, sql.MemberPath(trait)).Scan(&v); err != nil {
			t.Fatalf("trait_identifier(%.80s, %s): %v", traits, trait, err)
		}
		if v != nil {
			ids = append(ids, typ+":"+*v)
		}
	}
	rows, err := s.Query(ctx, "SELECT m.k, m.v FROM (SELECT unnest(json_members($1)) AS m)", traits)
	if err != nil {
		t.Fatalf("json_members(%.80s): %v", traits, err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		members = append(members, fmt.Sprintf("%s=%s", k, v))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	slices.Sort(members)
	return ids, members
}
