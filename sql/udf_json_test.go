package sql_test

import (
	"context"
	"fmt"
	"testing"
)

// json_members keeps each value as written, where DuckDB's JSON functions
// would write it again.
func TestJSONMembersAsWritten(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	for in, want := range map[string]string{
		`{"a": 1.50, "b":1e3,"c" : -0, "d":[1.0, {"e": 2E2}], "f":"caf\u00e9"}`: `a=1.50|b=1e3|c=-0|d=[1.0, {"e": 2E2}]|f="caf\u00e9"`,
		`{"we\"ird":null}`: `we"ird=null`,
		`{"a":1,"a":2}`:    `a=2`, // the last, as the speed layer's decoder takes it
		`[1]`:              `<nil>`,
		`"x"`:              `<nil>`,
	} {
		var got any
		if err := s.QueryRow(ctx, "SELECT array_to_string(list_transform(json_members($1), x -> x.k || '=' || x.v), '|')", in).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != want {
			t.Errorf("json_members(%s) = %v, want %s", in, got, want)
		}
	}
}
