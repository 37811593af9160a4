package match

import (
	"context"
	"testing"

	tsql "github.com/tributary-cdp/tributary/sql"
)

// The Go damerau_levenshtein_within that fs_compare.sql calls answers as
// DuckDB's damerau_levenshtein does, on random strings over small alphabets
// (transpositions and repeats) and UTF-8.
func TestEditsWithinAgreesWithDuckDB(t *testing.T) {
	ctx := context.Background()
	s, err := tsql.Open(ctx, tsql.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var bad int64
	err = s.QueryRow(ctx, `WITH w AS (
			SELECT range AS i, array_to_string(list_transform(range(1 + (hash(range) % 9)::INT), x -> ['a', 'b', 'c', 'é', '@'][1 + (hash(range * 31 + x) % 5)::INT]), '') AS v
			FROM range(3000)
		), p AS (SELECT a.v AS a, b.v AS b FROM w a JOIN w b ON (hash(a.i, b.i) % 50) = 0)
		SELECT count(*) FILTER (WHERE damerau_levenshtein_within(a, b, k::INT) <> (damerau_levenshtein(a, b) <= k))
		FROM p, range(4) t(k)`).Scan(&bad)
	if err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Errorf("%d pairs where damerau_levenshtein_within disagrees with DuckDB", bad)
	}
}
