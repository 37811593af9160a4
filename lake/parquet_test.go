package lake_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tributary-cdp/tributary/lake"
	"github.com/tributary-cdp/tributary/lake/local"
)

// nullableRow reads raw/events back telling NULL (nil) from "".
type nullableRow struct {
	KafkaOffset int64   `parquet:"kafka_offset"`
	UserID      *string `parquet:"user_id,optional"`
	Properties  *string `parquet:"properties,optional"`
	Traits      *string `parquet:"traits,optional"`
}

// writeEvents writes rows through a lake.Writer in batches of batch rows
// (as land does) and reads them back.
func writeEvents(t *testing.T, rows []lake.EventRow, batch int) []nullableRow {
	t.Helper()
	ctx := context.Background()
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w, err := lake.NewWriter[lake.EventRow](t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]lake.EventRow, 0, batch)
	for _, r := range rows {
		if buf = append(buf, r); len(buf) == batch {
			if err := w.Write(buf...); err != nil {
				t.Fatal(err)
			}
			clear(buf)
			buf = buf[:0]
		}
	}
	if err := w.Write(buf...); err != nil {
		t.Fatal(err)
	}
	f, err := w.Commit(ctx, st, "raw/events/workspace=w/date=2026-11-17/part-1-0-0.parquet")
	if err != nil {
		t.Fatal(err)
	}
	if f.Rows != int64(len(rows)) {
		t.Fatalf("committed %d rows, want %d", f.Rows, len(rows))
	}
	back, err := lake.ReadAll[nullableRow](ctx, st, f.Path)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(rows) {
		t.Fatalf("read %d rows back, want %d", len(back), len(rows))
	}
	return back
}

func checkNulls(t *testing.T, rows []lake.EventRow, back []nullableRow) {
	t.Helper()
	bad := 0
	for i, r := range rows {
		b := back[i]
		for _, c := range []struct {
			name string
			want string
			got  *string
		}{{"user_id", r.UserID, b.UserID}, {"properties", r.Properties, b.Properties}, {"traits", r.Traits, b.Traits}} {
			ok := (c.want == "" && c.got == nil) || (c.want != "" && c.got != nil && *c.got == c.want)
			if !ok && bad < 10 {
				got, want := "NULL", "NULL"
				if c.got != nil {
					got = fmt.Sprintf("%q", *c.got)
				}
				if c.want != "" {
					want = fmt.Sprintf("%q", c.want)
				}
				t.Errorf("row %d (offset %d): %s = %s, want %s", i, b.KafkaOffset, c.name, got, want)
			}
			if !ok {
				bad++
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d wrong values", bad)
	}
}

func eventRow(i int) lake.EventRow {
	ts := time.Date(2026, 11, 17, 9, 0, 0, 0, time.UTC)
	return lake.EventRow{Workspace: "default", MessageID: fmt.Sprint("m", i), Type: "track", Event: "Product Added",
		Timestamp: ts, ReceivedAt: ts, Properties: `{"price":110}`, KafkaPartition: 1, KafkaOffset: int64(i)}
}

// TestWriterKeepsNullsAfterPresentRun is the file land wrote as
// part-1-328-5122.parquet: 74 rows without traits but two identify rows
// (66 and 67). parquet-go wrote the 6 rows after them with traits "".
func TestWriterKeepsNullsAfterPresentRun(t *testing.T) {
	rows := make([]lake.EventRow, 74)
	for i := range rows {
		rows[i] = eventRow(i)
	}
	for _, i := range []int{66, 67} {
		rows[i].Type, rows[i].Event, rows[i].Properties = "identify", "", ""
		rows[i].UserID, rows[i].Traits = "web-8640", fmt.Sprintf(`{"email":"u%d@example.com"}`, i)
	}
	checkNulls(t, rows, writeEvents(t, rows, 1024))
}

// TestWriterKeepsNullsRandom writes random null patterns in batches of
// several sizes, across a row group boundary.
func TestWriterKeepsNullsRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := lake.RowGroupRows + 3000
	if testing.Short() {
		n = 5000
	}
	rows := make([]lake.EventRow, n)
	for i := range rows {
		rows[i] = eventRow(i)
		if rng.IntN(3) == 0 {
			rows[i].Properties = ""
		}
		if rng.IntN(8) == 0 {
			rows[i].Traits = fmt.Sprintf(`{"n":%d}`, i)
		}
		if rng.IntN(2) == 0 {
			rows[i].UserID = fmt.Sprint("u", i%97)
		}
	}
	for _, batch := range []int{1024, 100, 7} {
		t.Run(fmt.Sprint("batch", batch), func(t *testing.T) {
			checkNulls(t, rows, writeEvents(t, rows, batch))
		})
	}
}
