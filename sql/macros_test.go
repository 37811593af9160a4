package sql_test

import (
	"context"
	"slices"
	"testing"
)

// first_landed keeps one row per (workspace, message_id): the copy landed
// first (lowest partition, then offset), wherever it sits among the rows.
func TestFirstLandedKeepsTheFirstCopy(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	if err := s.Exec(ctx, `CREATE TEMP TABLE landed AS SELECT * FROM (VALUES
		('w1', 'm1', 2, 10, 'retry, later partition'),
		('w1', 'm1', 1, 50, 'first landed'),
		('w1', 'm1', 1, 70, 'retry, later offset'),
		('w2', 'm1', 0, 5, 'other workspace, same id'),
		('w1', 'm2', 3, 1, 'only copy')
	) AS t(workspace, message_id, kafka_partition, kafka_offset, note)`); err != nil {
		t.Fatal(err)
	}
	rows, err := s.Query(ctx, `SELECT workspace, message_id, note FROM first_landed('landed') ORDER BY ALL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var ws, id, note string
		if err := rows.Scan(&ws, &id, &note); err != nil {
			t.Fatal(err)
		}
		got = append(got, ws+"/"+id+": "+note)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{"w1/m1: first landed", "w1/m2: only copy", "w2/m1: other workspace, same id"}
	if !slices.Equal(got, want) {
		t.Fatalf("first_landed = %q, want %q", got, want)
	}
}
