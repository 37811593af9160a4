// Package laketest is the conformance suite every lake.Storage backend
// passes: call Run from the backend's tests with a fresh, empty storage.
package laketest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-cdp/tributary/lake"
)

// Run runs the whole suite against the storage newStorage returns; each
// subtest gets its own empty storage.
func Run(t *testing.T, newStorage func(t *testing.T) lake.Storage) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st lake.Storage)
	}{
		{"PutGet", testPutGet},
		{"Overwrite", testOverwrite},
		{"GetMissing", testMissing},
		{"PutIfAbsent", testPutIfAbsent},
		{"PutIfAbsentRace", testPutIfAbsentRace},
		{"List", testList},
		{"Delete", testDelete},
		{"InvalidKeys", testInvalidKeys},
		{"Empty", testEmpty},
		{"Large", testLarge},
		{"ManifestCommit", testManifestCommit},
		{"ManifestRace", testManifestRace},
		{"RemoveUncommitted", testRemoveUncommitted},
		{"RemoveUncommittedHolds", testRemoveUncommittedHolds},
		{"Parquet", testParquet},
		{"LocalFiles", testLocalFiles},
		{"ParquetNulls", testParquetNulls},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStorage(t)) })
	}
}

func put(t *testing.T, st lake.Storage, key, body string) {
	t.Helper()
	if err := st.Put(context.Background(), key, strings.NewReader(body)); err != nil {
		t.Fatalf("Put %s: %v", key, err)
	}
}

func get(t *testing.T, st lake.Storage, key string) string {
	t.Helper()
	b, err := lake.ReadObject(context.Background(), st, key)
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	return string(b)
}

func testPutGet(t *testing.T, st lake.Storage) {
	ctx := context.Background()
	put(t, st, "raw/events/workspace=w/date=2026-01-02/a.parquet", "hello")
	if got := get(t, st, "raw/events/workspace=w/date=2026-01-02/a.parquet"); got != "hello" {
		t.Fatalf("Get = %q, want hello", got)
	}
	info, err := st.Stat(ctx, "raw/events/workspace=w/date=2026-01-02/a.parquet")
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != 5 || info.Key != "raw/events/workspace=w/date=2026-01-02/a.parquet" || info.ETag == "" {
		t.Fatalf("Stat = %+v", info)
	}
	if d := time.Since(info.ModTime); d < -time.Minute || d > time.Minute {
		t.Fatalf("ModTime %v is not about now", info.ModTime)
	}
}

func testOverwrite(t *testing.T, st lake.Storage) {
	ctx := context.Background()
	put(t, st, "_meta/x.json", "one")
	a, _ := st.Stat(ctx, "_meta/x.json")
	time.Sleep(10 * time.Millisecond)
	put(t, st, "_meta/x.json", "second")
	if got := get(t, st, "_meta/x.json"); got != "second" {
		t.Fatalf("after overwrite Get = %q", got)
	}
	b, _ := st.Stat(ctx, "_meta/x.json")
	if a.ETag == b.ETag {
		t.Fatalf("ETag did not change on overwrite: %q", a.ETag)
	}
}

func testMissing(t *testing.T, st lake.Storage) {
	ctx := context.Background()
	if _, err := st.Get(ctx, "raw/nope/x"); !lake.IsNotExist(err) {
		t.Fatalf("Get missing: err = %v, want not-exist", err)
	}
	if _, err := st.Stat(ctx, "raw/nope/x"); !lake.IsNotExist(err) {
		t.Fatalf("Stat missing: err = %v, want not-exist", err)
	}
	if err := st.Delete(ctx, "raw/nope/x"); err != nil {
		t.Fatalf("Delete missing: %v", err)
	}
}

func testPutIfAbsent(t *testing.T, st lake.Storage) {
	ctx := context.Background()
	if err := st.PutIfAbsent(ctx, "_meta/locks/a.json", strings.NewReader("first")); err != nil {
		t.Fatal(err)
	}
	err := st.PutIfAbsent(ctx, "_meta/locks/a.json", strings.NewReader("second"))
	if !lake.IsExist(err) {
		t.Fatalf("second PutIfAbsent: err = %v, want exist", err)
	}
	if got := get(t, st, "_meta/locks/a.json"); got != "first" {
		t.Fatalf("Get = %q, want first", got)
	}
	if err := st.Delete(ctx, "_meta/locks/a.json"); err != nil {
		t.Fatal(err)
	}
	if err := st.PutIfAbsent(ctx, "_meta/locks/a.json", strings.NewReader("third")); err != nil {
		t.Fatalf("PutIfAbsent after Delete: %v", err)
	}
}

func testPutIfAbsentRace(t *testing.T, st lake.Storage) {
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = st.PutIfAbsent(ctx, "_meta/race", strings.NewReader(fmt.Sprint(i)))
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !lake.IsExist(err):
			t.Fatalf("contender %d: %v", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d contenders won, want exactly 1", won)
	}
}

func testList(t *testing.T, st lake.Storage) {
	ctx := context.Background()
	keys := []string{
		"raw/events/workspace=a/date=2026-01-01/p1",
		"raw/events/workspace=a/date=2026-01-02/p2",
		"raw/events/workspace=b/date=2026-01-01/p3",
		"raw/events2/x",
		"raw/crm/y",
	}
	for _, k := range keys {
		put(t, st, k, k)
	}
	cases := []struct {
		prefix string
		want   []string
	}{
		{"raw/events/", keys[:3]},
		{"raw/events/workspace=a/", keys[:2]},
		{"raw/events", keys[:4]},
		{"raw/events/workspace=a/date=2026-01-0", keys[:2]},
		{"raw/crm/y", keys[4:]},
		{"curated/", nil},
		{"", append(append([]string{}, keys[4]), keys[:4]...)},
	}
	for _, c := range cases {
		objs, err := st.List(ctx, c.prefix)
		if err != nil {
			t.Fatalf("List(%q): %v", c.prefix, err)
		}
		var got []string
		for _, o := range objs {
			got = append(got, o.Key)
			if o.Size != int64(len(o.Key)) {
				t.Errorf("List(%q): %s size %d, want %d", c.prefix, o.Key, o.Size, len(o.Key))
			}
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("List(%q) = %v, want %v", c.prefix, got, c.want)
		}
	}
}

func testDelete(t *testing.T, st lake.Storage) {
	ctx := context.Background()
	put(t, st, "clean/a/b", "x")
	put(t, st, "clean/a/c", "y")
	if err := st.Delete(ctx, "clean/a/b"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Stat(ctx, "clean/a/b"); !lake.IsNotExist(err) {
		t.Fatalf("Stat after Delete: %v", err)
	}
	objs, _ := st.List(ctx, "clean/")
	if len(objs) != 1 || objs[0].Key != "clean/a/c" {
		t.Fatalf("List after Delete = %v", objs)
	}
}

func testInvalidKeys(t *testing.T, st lake.Storage) {
	ctx := context.Background()
	for _, k := range []string{"", "/abs", "a/../b", "a//b", "a/./b", "dir/"} {
		if err := st.Put(ctx, k, strings.NewReader("x")); err == nil {
			t.Errorf("Put(%q) succeeded, want an invalid-key error", k)
		}
	}
}

func testEmpty(t *testing.T, st lake.Storage) {
	put(t, st, "raw/empty", "")
	if got := get(t, st, "raw/empty"); got != "" {
		t.Fatalf("Get = %q", got)
	}
}

func testLarge(t *testing.T, st lake.Storage) {
	b := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB
	if err := st.Put(context.Background(), "raw/big/x", bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	got, err := lake.ReadObject(context.Background(), st, "raw/big/x")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, b) {
		t.Fatalf("large object differs (%d bytes back, want %d)", len(got), len(b))
	}
}

// failingReader fails halfway: the put must leave nothing visible.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("source broke")
	}
	k := min(len(p), f.n)
	f.n -= k
	return k, nil
}

var _ io.Reader = (*failingReader)(nil)

func testManifestCommit(t *testing.T, st lake.Storage) {
	ctx := context.Background()
	m, err := lake.LatestManifest(ctx, st, "raw/events")
	if err != nil || m.Version != 0 || len(m.Files) != 0 {
		t.Fatalf("empty table: %+v, %v", m, err)
	}
	// A put that breaks halfway leaves nothing visible.
	if err := st.Put(ctx, "raw/events/broken", &failingReader{n: 1000}); err == nil {
		t.Fatal("Put from a failing reader succeeded")
	}
	if _, err := st.Stat(ctx, "raw/events/broken"); !lake.IsNotExist(err) {
		t.Fatalf("half-written object visible: %v", err)
	}
	put(t, st, "raw/events/workspace=w/date=2026-01-01/part-0-0-9.parquet", "x")
	m1, err := lake.Commit(ctx, st, "raw/events", lake.CommitInfo{Job: "land", RunID: "r1"}, func(m *lake.Manifest) error {
		m.Files = append(m.Files, lake.File{Path: "raw/events/workspace=w/date=2026-01-01/part-0-0-9.parquet", Rows: 10,
			Kafka: &lake.OffsetRange{Partition: 0, First: 0, Last: 9}})
		m.Offsets = map[int32]int64{0: 10}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if m1.Version != 1 {
		t.Fatalf("version = %d", m1.Version)
	}
	m2, err := lake.Commit(ctx, st, "raw/events", lake.CommitInfo{Job: "land", RunID: "r2"}, func(m *lake.Manifest) error {
		m.Files = append(m.Files, lake.File{Path: "raw/events/workspace=w/date=2026-01-01/part-0-10-19.parquet", Rows: 10})
		m.Offsets[0] = 20
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := lake.LatestManifest(ctx, st, "raw/events")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 2 || len(got.Files) != 2 || got.Offsets[0] != 20 || got.RunID != "r2" || got.Rows() != 20 {
		t.Fatalf("latest = %+v", got)
	}
	if m2.Files[0].Kafka == nil || m2.Files[0].Kafka.Last != 9 {
		t.Fatalf("kafka range lost: %+v", m2.Files[0])
	}
	old, err := lake.ReadManifest(ctx, st, "raw/events", 1)
	if err != nil || len(old.Files) != 1 {
		t.Fatalf("v1 = %+v, %v", old, err)
	}
	// Files outside the table are refused.
	_, err = lake.Commit(ctx, st, "raw/events", lake.CommitInfo{}, func(m *lake.Manifest) error {
		m.Files = append(m.Files, lake.File{Path: "raw/other/x"})
		return nil
	})
	if err == nil {
		t.Fatal("commit of a file outside the table succeeded")
	}
}

func testManifestRace(t *testing.T, st lake.Storage) {
	ctx := context.Background()
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = lake.Commit(ctx, st, "clean/t", lake.CommitInfo{}, func(m *lake.Manifest) error {
				m.Files = append(m.Files, lake.File{Path: fmt.Sprintf("clean/t/f%d", i), Rows: 1})
				return nil
			})
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		var ce *lake.ConflictError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &ce):
		default:
			t.Fatal(err)
		}
	}
	m, err := lake.LatestManifest(ctx, st, "clean/t")
	if err != nil {
		t.Fatal(err)
	}
	if int(m.Version) != ok || len(m.Files) != ok {
		t.Fatalf("%d commits succeeded but latest is v%d with %d files: a commit was lost", ok, m.Version, len(m.Files))
	}
}

func testRemoveUncommitted(t *testing.T, st lake.Storage) {
	ctx := context.Background()
	put(t, st, "raw/crm/workspace=w/date=2026-01-01/a.parquet", "a")
	put(t, st, "raw/crm/workspace=w/date=2026-01-01/orphan.parquet", "b")
	if _, err := lake.Commit(ctx, st, "raw/crm", lake.CommitInfo{}, func(m *lake.Manifest) error {
		m.Files = append(m.Files, lake.File{Path: "raw/crm/workspace=w/date=2026-01-01/a.parquet", Rows: 1})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	files, err := lake.CommittedFiles(ctx, st, "raw/crm")
	if err != nil || len(files) != 1 {
		t.Fatalf("committed = %v, %v", files, err)
	}
	if n, err := lake.RemoveUncommitted(ctx, st, "raw/crm", time.Hour); err != nil || n != 0 {
		t.Fatalf("young orphan removed: n=%d err=%v", n, err)
	}
	n, err := lake.RemoveUncommitted(ctx, st, "raw/crm", 0)
	if err != nil || n != 1 {
		t.Fatalf("RemoveUncommitted = %d, %v; want 1", n, err)
	}
	objs, _ := st.List(ctx, "raw/crm/")
	if len(objs) != 1 {
		t.Fatalf("left %v", objs)
	}
}

// A held file stays until its hold expires, even for minAge 0.
func testRemoveUncommittedHolds(t *testing.T, st lake.Storage) {
	ctx := context.Background()
	held, expired := "raw/events/workspace=w/date=2026-01-01/held.parquet", "raw/events/workspace=w/date=2026-01-01/expired.parquet"
	put(t, st, held, "a")
	put(t, st, expired, "b")
	if _, err := lake.Commit(ctx, st, "raw/events", lake.CommitInfo{}, func(m *lake.Manifest) error {
		m.Holds = append(m.Holds, lake.Hold{Path: held, Until: time.Now().Add(time.Hour)}, lake.Hold{Path: expired, Until: time.Now().Add(-time.Second)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n, err := lake.RemoveUncommitted(ctx, st, "raw/events", 0); err != nil || n != 1 {
		t.Fatalf("RemoveUncommitted = %d, %v; want 1", n, err)
	}
	objs, _ := st.List(ctx, "raw/events/")
	if len(objs) != 1 || objs[0].Key != held {
		t.Fatalf("left %v, want only %s", objs, held)
	}
	m, err := lake.Commit(ctx, st, "raw/events", lake.CommitInfo{}, func(m *lake.Manifest) error { return nil })
	if err != nil || len(m.Holds) != 1 || m.Holds[0].Path != held {
		t.Fatalf("after a commit: holds %+v, %v; want the expired one dropped", m.Holds, err)
	}
	if _, err := lake.Commit(ctx, st, "raw/events", lake.CommitInfo{}, func(m *lake.Manifest) error {
		m.Holds = append(m.Holds, lake.Hold{Path: "raw/other/x.parquet", Until: time.Now().Add(time.Hour)})
		return nil
	}); err == nil {
		t.Fatal("a hold outside the table was committed")
	}
}

func testParquet(t *testing.T, st lake.Storage) {
	ctx := context.Background()
	w, err := lake.NewWriter[lake.EventRow](t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	var rows []lake.EventRow
	for i := range 1000 {
		rows = append(rows, lake.EventRow{Workspace: "w", MessageID: fmt.Sprint("m", i), Type: "track", Event: "Bought",
			UserID: fmt.Sprint("u", i%7), Timestamp: ts, ReceivedAt: ts, Properties: `{"n":1}`, KafkaPartition: 3, KafkaOffset: int64(i)})
	}
	rows[5].SentAt = &ts
	if err := w.Write(rows...); err != nil {
		t.Fatal(err)
	}
	f, err := w.Commit(ctx, st, "raw/events/workspace=w/date=2026-01-02/part-3-0-999.parquet")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Stat(ctx, f.Path)
	if err != nil || info.Size != f.Bytes || f.Rows != 1000 {
		t.Fatalf("file %+v, stat %+v, %v", f, info, err)
	}
	back, err := lake.ReadAll[lake.EventRow](ctx, st, f.Path)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 1000 || back[999].KafkaOffset != 999 || back[5].SentAt == nil || !back[5].SentAt.Equal(ts) ||
		back[6].SentAt != nil || back[1].Properties != `{"n":1}` || back[1].AnonymousID != "" || !back[0].Timestamp.Equal(ts) {
		t.Fatalf("read back differs: %+v", back[5])
	}
}

func testLocalFiles(t *testing.T, st lake.Storage) {
	ctx := context.Background()
	put(t, st, "curated/profiles/workspace=w/a.parquet", "v1")
	if _, err := lake.Commit(ctx, st, "curated/profiles", lake.CommitInfo{}, func(m *lake.Manifest) error {
		m.Files = append(m.Files, lake.File{Path: "curated/profiles/workspace=w/a.parquet"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	paths, m, err := lake.LocalFiles(ctx, st, "curated/profiles", cache)
	if err != nil || len(paths) != 1 || m.Version != 1 {
		t.Fatalf("LocalFiles = %v, %+v, %v", paths, m, err)
	}
	b, err := os.ReadFile(paths[0])
	if err != nil || string(b) != "v1" {
		t.Fatalf("local copy = %q, %v", b, err)
	}
	// A changed object is fetched again.
	time.Sleep(10 * time.Millisecond)
	put(t, st, "curated/profiles/workspace=w/a.parquet", "v2")
	paths, _, err = lake.LocalFiles(ctx, st, "curated/profiles", cache)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(paths[0]); string(b) != "v2" {
		t.Fatalf("stale local copy %q", b)
	}
}

// nullableEvent reads raw/events' optional columns with pointers, so a
// NULL and an empty string differ.
type nullableEvent struct {
	MessageID   string  `parquet:"message_id"`
	UserID      *string `parquet:"user_id,optional"`
	AnonymousID *string `parquet:"anonymous_id,optional"`
	Properties  *string `parquet:"properties,optional"`
}

// testParquetNulls writes empty optional strings in every pattern within
// 64-row pieces (where parquet-go v0.32.0 turned some NULLs into "") and
// checks that each reads back as NULL.
func testParquetNulls(t *testing.T, st lake.Storage) {
	ctx := context.Background()
	var rows []lake.EventRow
	ts := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	for i := range 1000 {
		r := lake.EventRow{Workspace: "w", MessageID: fmt.Sprint(i), Type: "track", Timestamp: ts, ReceivedAt: ts, KafkaOffset: int64(i)}
		// Runs of present and absent values of every length from 1 to 40.
		if (i/(1+i%40))%2 == 1 {
			r.UserID = fmt.Sprint("u", i)
		}
		if i%3 == 0 {
			r.AnonymousID = "a"
		}
		if i%64 == 1 || i%64 == 2 {
			r.Properties = "{}"
		}
		rows = append(rows, r)
	}
	for _, batch := range []int{1, 7, 64, 1000} {
		w, err := lake.NewWriter[lake.EventRow](t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(rows); i += batch {
			if err := w.Write(rows[i:min(i+batch, len(rows))]...); err != nil {
				t.Fatal(err)
			}
		}
		key := fmt.Sprintf("raw/events/nulls-%d.parquet", batch)
		if _, err := w.Commit(ctx, st, key); err != nil {
			t.Fatal(err)
		}
		back, err := lake.ReadAll[nullableEvent](ctx, st, key)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range back {
			want := rows[i]
			for _, c := range []struct {
				name string
				got  *string
				want string
			}{{"user_id", r.UserID, want.UserID}, {"anonymous_id", r.AnonymousID, want.AnonymousID}, {"properties", r.Properties, want.Properties}} {
				if (c.got == nil) != (c.want == "") || c.got != nil && *c.got != c.want {
					t.Fatalf("writes of %d rows: row %d %s = %v, want %q (NULL when empty)", batch, i, c.name, deref(c.got), c.want)
				}
			}
		}
	}
}

func deref(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}
