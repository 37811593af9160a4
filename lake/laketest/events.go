package laketest

import (
	"context"
	"testing"

	"github.com/tributary-cdp/tributary/lake"
)

// CommitEvents lands rows (lake.NewEventRow; one partition, offsets
// ascending) as one raw/events file of workspace "default", as the land
// job would, and commits it with the partition's next offset after the
// last row.
func CommitEvents(tb testing.TB, st lake.Storage, rows ...lake.EventRow) {
	tb.Helper()
	CommitEventsOn(tb, st, "default", "2026-11-22", rows...)
}

// CommitEventsOn is CommitEvents into the partition of workspace and date
// (YYYY-MM-DD); it returns the committed file.
func CommitEventsOn(tb testing.TB, st lake.Storage, workspace, date string, rows ...lake.EventRow) lake.File {
	tb.Helper()
	return CommitRowsOn(tb, st, lake.TableEvents, workspace, date, rows...)
}

// CommitRowsOn is CommitEventsOn into any table the land job writes
// (lake.TableEvents, lake.TableRejected).
func CommitRowsOn[T lake.KafkaRow](tb testing.TB, st lake.Storage, table, workspace, date string, rows ...T) lake.File {
	tb.Helper()
	if len(rows) == 0 {
		tb.Fatal("laketest.CommitRowsOn: no rows")
	}
	ctx := context.Background()
	w, err := lake.NewWriter[T](tb.TempDir(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range rows {
		if err := w.Write(r); err != nil {
			tb.Fatal(err)
		}
	}
	part, first := rows[0].KafkaPosition()
	_, last := rows[len(rows)-1].KafkaPosition()
	r := lake.OffsetRange{Partition: part, First: first, Last: last}
	f, err := w.Commit(ctx, st, lake.PartKey(table, workspace, date, r))
	if err != nil {
		tb.Fatal(err)
	}
	f.Workspace, f.Date, f.Kafka = workspace, date, &r
	if _, err := lake.Commit(ctx, st, table, lake.CommitInfo{Job: "test"}, func(m *lake.Manifest) error {
		m.Files = append(m.Files, f)
		if m.Offsets == nil {
			m.Offsets = map[int32]int64{}
		}
		m.Offsets[part] = max(m.Offsets[part], last+1)
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return f
}
