package sql_test

import (
	"context"
	"slices"
	"strconv"
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

// trait_identifier reads an identifier trait as the speed layer does: a
// string's value, a number as it is written, nothing for any other JSON;
// of a repeated key, the last value.
func TestTraitIdentifierAsSent(t *testing.T) {
	s := open(t)
	for traits, want := range map[string]string{
		`{"card":"A-1"}`:                "A-1",
		`{"card":12.50}`:                "12.50",
		`{"card":1e3}`:                  "1e3",
		`{"card":-0}`:                   "-0",
		`{"card":1.5E-2,"x":1}`:         "1.5E-2",
		`{"card":12345678901234567890}`: "12345678901234567890",
		`{"card":1e400}`:                "1e400",
		`{"card":{"a":1}}`:              "",
		`{"card":true}`:                 "",
		`{"card":null}`:                 "",
		`{"other":1.50}`:                "",
		// A repeated key: the last value, as the speed layer takes it.
		`{"card":"A-1","card":"B-2"}`:             "B-2",
		`{"card":"A-1","x":"card","card":12.50}`:  "12.50",
		`{"card":7,"card":"B-2"}`:                 "B-2",
		`{"card":"A-1","card":{"a":1}}`:           "",
		`{"card":"A-1","c\u0061rd":"B\u002d2"}`:   "B-2",
		`{"n":"ééé","card":"A-1", "card" :"B-2"}`: "B-2",
		`{"card":"A-1","x":"card"}`:               "A-1",
		`{"card":"A\u002d1","x":1}`:               "A-1",
		`["card","card"]`:                         "",
		`{"c\u0061rd":7}`:                         "7",
	} {
		var got *string
		if err := s.QueryRow(context.Background(), `SELECT trait_identifier($1, 'card', '$."card"')`, traits).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if (got == nil) != (want == "") || got != nil && *got != want {
			t.Errorf("trait_identifier(%s) = %v, want %q", traits, got, want)
		}
	}
}

// amount_at reads an amount as the speed layer does (speed.readOrder):
// the key as written, after unescaping, and of a repeated key the last
// value; any JSON that is no object has none.
func TestAmountAtLastValue(t *testing.T) {
	s := open(t)
	for obj, want := range map[string]string{
		`{"price":12.50}`:                      "12.5",
		`{"price":"7","x":1}`:                  "7",
		`{"Price":7}`:                          "",
		`{"price":1,"price":"2.5"}`:            "2.5",
		`{"price":1,"price":null}`:             "",
		`{"price":"x","price":3}`:              "3",
		`{"x":"price","price":3}`:              "3",
		`{"price":1,"pr\u0069ce":4}`:           "4",
		`{"pr\u0069ce":4,"price":1}`:           "1",
		`{"pr\u0069ce":4,"x":"\n"}`:            "4",
		`{"price":"1e400","price":2}`:          "2",
		`{"price":2,"price":1e400}`:            "+Inf",
		`["price","price"]`:                    "",
		`["a\n","price"]`:                      "",
		`"a\"price\"b\"price\""`:               "",
		`{"a":{"price":1},"price":2}`:          "2",
		`{"price":2,"a":{"price":1}}`:          "2",
		`{"price":{"price":1},"price":[2]}`:    "",
		`{"price":" 3 ","price":"4","pr\"":5}`: "4",
	} {
		var got *float64
		if err := s.QueryRow(context.Background(), `SELECT amount_at($1, 'price', '$.price')`, obj).Scan(&got); err != nil {
			t.Errorf("amount_at(%s): %v", obj, err)
			continue
		}
		g := ""
		if got != nil {
			g = strconv.FormatFloat(*got, 'g', -1, 64)
		}
		if g != want {
			t.Errorf("amount_at(%s) = %q, want %q", obj, g, want)
		}
	}
}
