package compact_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/batch/compact"
	"github.com/tributary-cdp/tributary/internal/testenv"
	"github.com/tributary-cdp/tributary/lake"
	"github.com/tributary-cdp/tributary/lake/laketest"
	"github.com/tributary-cdp/tributary/lake/local"
	"github.com/tributary-cdp/tributary/lake/s3"
)

var (
	today     = time.Now().UTC().Format(time.DateOnly)
	yesterday = time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)
)

// landFile commits one raw/events file as the land job does: a row per
// offset first..last of partition p.
func landFile(t testing.TB, st lake.Storage, ws, date string, p int32, first, last int64) lake.File {
	t.Helper()
	ts, _ := time.Parse(time.DateOnly, date)
	var rows []lake.EventRow
	for o := first; o <= last; o++ {
		e := cdp.Event{Workspace: ws, MessageID: fmt.Sprintf("m-%d-%d", p, o), Type: cdp.Track, Event: "Order Completed",
			UserID: fmt.Sprintf("u%d", o%7), Timestamp: ts.Add(time.Duration(o) * time.Second), ReceivedAt: ts}
		if o%3 == 0 {
			e.Properties = []byte(`{"revenue":12.5}`)
		}
		rows = append(rows, lake.NewEventRow(&e, p, o))
	}
	return laketest.CommitEventsOn(t, st, ws, date, rows...)
}

// landRun lands n files of 10 offsets each from offset first on.
func landRun(t testing.TB, st lake.Storage, ws, date string, p int32, first int64, n int) {
	for i := range int64(n) {
		landFile(t, st, ws, date, p, first+10*i, first+10*i+9)
	}
}

// rejectRun commits n quarantine/events files of one rejected message
// each, at offsets first, first+10, …, as the land job does when a
// message of a run is not an event.
func rejectRun(t testing.TB, st lake.Storage, date string, p int32, first int64, n int) {
	t.Helper()
	ts, _ := time.Parse(time.DateOnly, date)
	for i := range int64(n) {
		o := first + 10*i
		laketest.CommitRowsOn(t, st, lake.TableRejected, "_unknown", date, lake.RejectRow{Source: "kafka:cdp.events", Line: -1,
			Raw: fmt.Sprintf("not an event %d-%d", p, o), Reason: "invalid JSON", QuarantinedAt: ts, KafkaPartition: p, KafkaOffset: o})
	}
}

// rows reads every committed row of raw/events, in partition and offset
// order.
func rows(t *testing.T, st lake.Storage) []lake.EventRow {
	t.Helper()
	return tableRows[lake.EventRow](t, st, lake.TableEvents)
}

// rejects reads every committed row of quarantine/events, in partition
// and offset order.
func rejects(t *testing.T, st lake.Storage) []lake.RejectRow {
	t.Helper()
	return tableRows[lake.RejectRow](t, st, lake.TableRejected)
}

// tableRows reads every committed row of table, in partition and offset
// order, and fails when a message is committed twice.
func tableRows[T lake.KafkaRow](t *testing.T, st lake.Storage, table string) []T {
	t.Helper()
	rs, err := lake.ReadTable[T](context.Background(), st, table)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(rs, func(a, b T) int {
		pa, oa := a.KafkaPosition()
		pb, ob := b.KafkaPosition()
		return cmp.Or(cmp.Compare(pa, pb), cmp.Compare(oa, ob))
	})
	for i := 1; i < len(rs); i++ {
		p0, o0 := rs[i-1].KafkaPosition()
		if p, o := rs[i].KafkaPosition(); p == p0 && o == o0 {
			t.Fatalf("%s: the message at %d:%d is committed twice", table, p, o)
		}
	}
	return rs
}

func manifest(t *testing.T, st lake.Storage) *lake.Manifest {
	t.Helper()
	return manifestOf(t, st, lake.TableEvents)
}

func manifestOf(t *testing.T, st lake.Storage, table string) *lake.Manifest {
	t.Helper()
	m, err := lake.LatestManifest(context.Background(), st, table)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func localLake(t testing.TB) lake.Storage {
	t.Helper()
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func testConfig(st lake.Storage) compact.Config {
	cfg := compact.DefaultConfig()
	cfg.Storage = st
	return cfg
}

func TestCompact(t *testing.T) {
	for _, backend := range []struct {
		name string
		open func(t *testing.T) lake.Storage
	}{
		{"local", func(t *testing.T) lake.Storage { return localLake(t) }},
		{"minio", func(t *testing.T) lake.Storage {
			m := testenv.StartMinIO(t)
			cfg := s3.DefaultConfig()
			cfg.Endpoint, cfg.AccessKey, cfg.SecretKey, cfg.Secure, cfg.Bucket = m.Endpoint, m.AccessKey, m.SecretKey, false, "lake"
			st, err := s3.New(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			return st
		}},
	} {
		t.Run(backend.name, func(t *testing.T) { testCompact(t, backend.open(t)) })
	}
}

func testCompact(t *testing.T, st lake.Storage) {
	ctx := context.Background()
	landRun(t, st, "acme", yesterday, 0, 0, 12)    // compacted into one file
	landRun(t, st, "acme", yesterday, 1, 0, 3)     // too few files
	landRun(t, st, "acme", today, 0, 300, 12)      // today: still being landed
	landRun(t, st, "acme", yesterday, 2, 0, 5)     // 10 files with a gap
	landRun(t, st, "acme", yesterday, 2, 60, 5)    // between them: into one file
	landRun(t, st, "globex", yesterday, 0, 120, 9) // another group, 9 files
	rejectRun(t, st, yesterday, 3, 0, 12)          // quarantine/events: into one file
	rejectRun(t, st, today, 3, 300, 12)            // today's quarantine too stays
	before, m0 := rows(t, st), manifest(t, st)
	rejBefore, q0 := rejects(t, st), manifestOf(t, st, lake.TableRejected)
	offsets, _, err := lake.LandedOffsets(ctx, st)
	if err != nil {
		t.Fatal(err)
	}

	dry, err := compact.Run(ctx, testConfig(st), compact.Options{DryRun: true})
	if err != nil || dry.Rewrites != 4 || dry.FilesIn != 43 || dry.Rows != 322 {
		t.Fatalf("dry run: %+v, %v", dry, err)
	}
	if m, q := manifest(t, st), manifestOf(t, st, lake.TableRejected); m.Version != m0.Version || q.Version != q0.Version {
		t.Fatalf("dry run committed v%d, v%d", m.Version, q.Version)
	}

	res, err := compact.Run(ctx, testConfig(st), compact.Options{RunID: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	ev, rej := res.Tables[lake.TableEvents], res.Tables[lake.TableRejected]
	if ev.Rewrites != 3 || ev.FilesIn != 31 || ev.Rows != 310 || rej.Rewrites != 1 || rej.FilesIn != 12 || rej.Rows != 12 ||
		res.Rewrites != 4 || res.FilesIn != 43 || res.Rows != 322 || res.Skipped != 0 {
		t.Fatalf("result %+v", res)
	}
	m := manifest(t, st)
	if len(m.Files) != len(m0.Files)-31+3 {
		t.Fatalf("%d files after compaction, want %d", len(m.Files), len(m0.Files)-28)
	}
	if !reflect.DeepEqual(m.Offsets, offsets) {
		t.Fatalf("offsets changed: %v, were %v", m.Offsets, offsets)
	}
	after := rows(t, st)
	if !reflect.DeepEqual(after, before) {
		t.Fatalf("rows differ after compaction: %d rows, were %d", len(after), len(before))
	}
	for _, want := range []struct {
		ws      string
		r       lake.OffsetRange
		offsets []int64
	}{
		{"acme", lake.OffsetRange{Partition: 0, First: 0, Last: 119}, span(0, 119)},
		{"globex", lake.OffsetRange{Partition: 0, First: 120, Last: 209}, span(120, 209)},
		{"acme", lake.OffsetRange{Partition: 2, First: 0, Last: 109}, append(span(0, 49), span(60, 109)...)},
	} {
		checkFile(t, st, m, want.ws, yesterday, want.r, want.offsets)
	}

	// The replaced files stay for readers of the old version, even for the
	// land job's clean-up, which removes uncommitted files of any age.
	if len(m.Holds) != 31 {
		t.Fatalf("%d holds, want the 31 replaced files", len(m.Holds))
	}
	if n, err := lake.RemoveUncommitted(ctx, st, lake.TableEvents, 0); err != nil || n != 0 {
		t.Fatalf("RemoveUncommitted removed %d held files: %v", n, err)
	}
	for _, f := range m0.Files {
		if _, err := st.Stat(ctx, f.Path); err != nil {
			t.Fatalf("replaced file %s is gone during the grace period: %v", f.Path, err)
		}
	}

	// quarantine/events: yesterday's 12 files in one, each reject once,
	// the offsets the land job skips rejects below unchanged, the replaced
	// files held from its clean-up.
	q := manifestOf(t, st, lake.TableRejected)
	if len(q.Files) != 12+1 || len(q.Holds) != 12 || !reflect.DeepEqual(q.Offsets, q0.Offsets) {
		t.Fatalf("quarantine/events after compaction: %d files, %d holds, offsets %v (were %v)", len(q.Files), len(q.Holds), q.Offsets, q0.Offsets)
	}
	if after := rejects(t, st); !reflect.DeepEqual(after, rejBefore) {
		t.Fatalf("rejects differ after compaction: %d rows, were %d", len(after), len(rejBefore))
	}
	checkFileOf[lake.RejectRow](t, st, q, lake.TableRejected, "_unknown", yesterday, lake.OffsetRange{Partition: 3, First: 0, Last: 110}, spanStep(0, 110, 10))
	if n, err := lake.RemoveUncommitted(ctx, st, lake.TableRejected, 0); err != nil || n != 0 {
		t.Fatalf("RemoveUncommitted removed %d held quarantine files: %v", n, err)
	}

	// A second run has nothing to do and commits nothing.
	res, err = compact.Run(ctx, testConfig(st), compact.Options{})
	if err != nil || res.Rewrites != 0 || res.Skipped != 0 {
		t.Fatalf("second run: %+v, %v", res, err)
	}
	if v, qv := manifest(t, st).Version, manifestOf(t, st, lake.TableRejected).Version; v != m.Version || qv != q.Version {
		t.Fatalf("second run committed v%d, v%d", v, qv)
	}
}

// span is the offsets first..last.
func span(first, last int64) []int64 { return spanStep(first, last, 1) }

// spanStep is the offsets first, first+step, … up to last.
func spanStep(first, last, step int64) []int64 {
	var out []int64
	for o := first; o <= last; o += step {
		out = append(out, o)
	}
	return out
}

// checkFile checks that m commits the raw/events file of ws and date with
// range r, holding exactly offsets, in order.
func checkFile(t *testing.T, st lake.Storage, m *lake.Manifest, ws, date string, r lake.OffsetRange, offsets []int64) {
	t.Helper()
	checkFileOf[lake.EventRow](t, st, m, lake.TableEvents, ws, date, r, offsets)
}

// checkFileOf is checkFile for the file of any table the land job writes.
func checkFileOf[T lake.KafkaRow](t *testing.T, st lake.Storage, m *lake.Manifest, table, ws, date string, r lake.OffsetRange, offsets []int64) {
	t.Helper()
	path := lake.PartKey(table, ws, date, r)
	i := slices.IndexFunc(m.Files, func(f lake.File) bool { return f.Path == path })
	if i < 0 || *m.Files[i].Kafka != r || m.Files[i].Rows != int64(len(offsets)) {
		t.Fatalf("no committed file %s with range %+v and %d rows: %+v", path, r, len(offsets), m.Files)
	}
	rs, err := lake.ReadAll[T](context.Background(), st, path)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]int64, len(rs))
	for j, row := range rs {
		p, o := row.KafkaPosition()
		if e, ok := any(row).(lake.EventRow); p != r.Partition || ok && e.Workspace != ws {
			t.Fatalf("%s row %d is of partition %d, workspace %s", path, j, p, e.Workspace)
		}
		got[j] = o
	}
	if !slices.Equal(got, offsets) {
		t.Fatalf("%s holds offsets %v, want %v", path, got, offsets)
	}
}

// Workspaces and days sharing a partition: land writes one file per
// workspace and day at every run, so each group's ranges have gaps where
// the others' offsets are. Every group is merged on its own, each row once.
func TestCompactInterleavedGroups(t *testing.T) {
	st := localLake(t)
	ctx := context.Background()
	old := time.Now().UTC().AddDate(0, 0, -2).Format(time.DateOnly)
	groups := []struct{ ws, date string }{{"acme", yesterday}, {"globex", yesterday}, {"acme", old}}
	want := make([][]int64, len(groups))
	for i := range int64(27) {
		g := groups[i%3]
		landFile(t, st, g.ws, g.date, 0, 10*i, 10*i+9)
		want[i%3] = append(want[i%3], span(10*i, 10*i+9)...)
	}
	before, offsets := rows(t, st), manifest(t, st).Offsets
	res, err := compact.Run(ctx, testConfig(st), compact.Options{})
	if err != nil || res.Rewrites != 3 || res.FilesIn != 27 || res.Rows != 270 || res.Skipped != 0 {
		t.Fatalf("%+v, %v", res, err)
	}
	m := manifest(t, st)
	if len(m.Files) != 3 || !reflect.DeepEqual(m.Offsets, offsets) {
		t.Fatalf("%d files, offsets %v (were %v)", len(m.Files), m.Offsets, offsets)
	}
	for i, g := range groups {
		r := lake.OffsetRange{Partition: 0, First: 10 * int64(i), Last: 10*int64(24+i) + 9}
		checkFile(t, st, m, g.ws, g.date, r, want[i])
	}
	if after := rows(t, st); !reflect.DeepEqual(after, before) {
		t.Fatalf("rows differ after compaction: %d rows, were %d", len(after), len(before))
	}
}

func TestCompactGracePeriodEnds(t *testing.T) {
	st := localLake(t)
	ctx := context.Background()
	landRun(t, st, "acme", yesterday, 0, 0, 9)
	cfg := testConfig(st)
	cfg.Grace = 2 * time.Second
	if res, err := compact.Run(ctx, cfg, compact.Options{}); err != nil || res.Rewrites != 1 {
		t.Fatalf("%+v, %v", res, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for removed := 0; removed < 9; {
		n, err := lake.RemoveUncommitted(ctx, st, lake.TableEvents, 0)
		if err != nil {
			t.Fatal(err)
		}
		removed += n
		if time.Now().After(deadline) {
			t.Fatalf("%d of the 9 replaced files removed 8 s after their grace period", removed)
		}
		time.Sleep(100 * time.Millisecond)
	}
	objs, _ := st.List(ctx, lake.TableEvents+"/")
	if len(objs) != 1 {
		t.Fatalf("%d objects left, want the compacted file", len(objs))
	}
}

func TestCompactDates(t *testing.T) {
	st := localLake(t)
	ctx := context.Background()
	old := time.Now().UTC().AddDate(0, 0, -5).Format(time.DateOnly)
	landRun(t, st, "acme", old, 0, 0, 9)
	landRun(t, st, "acme", yesterday, 0, 90, 9)
	landRun(t, st, "globex", yesterday, 1, 0, 9)
	landRun(t, st, "acme", today, 0, 180, 9)
	y, _ := time.Parse(time.DateOnly, yesterday)
	res, err := compact.Run(ctx, testConfig(st), compact.Options{From: y, Workspace: "acme"})
	if err != nil || res.Rewrites != 1 || res.Rows != 90 {
		t.Fatalf("--from yesterday --workspace acme: %+v, %v", res, err)
	}
	if res, err = compact.Run(ctx, testConfig(st), compact.Options{To: time.Now()}); err != nil || res.Rewrites != 3 {
		t.Fatalf("--to today: %+v, %v", res, err)
	}
}

// A group whose ranges overlap is left alone: merging it would repeat rows.
func TestCompactSkipsOverlap(t *testing.T) {
	st := localLake(t)
	landRun(t, st, "acme", yesterday, 0, 0, 9)
	landFile(t, st, "acme", yesterday, 0, 85, 95)
	m0 := manifest(t, st)
	res, err := compact.Run(context.Background(), testConfig(st), compact.Options{})
	if err != nil || res.Rewrites != 0 || res.Skipped != 1 {
		t.Fatalf("%+v, %v", res, err)
	}
	if m := manifest(t, st); m.Version != m0.Version {
		t.Fatal("an overlapping group was compacted")
	}
}

// Files at or above the lowest watermark of the tables built from
// raw/events stay: a build may still cut raw/events there, and would
// leave out a merged file that straddles its watermark. With two
// workspaces on the partition, the ranges merged have gaps. Nothing cuts
// quarantine/events at a watermark: its files are all merged.
func TestCompactStaysBelowWatermarks(t *testing.T) {
	for _, workspaces := range [][]string{{"acme"}, {"acme", "globex"}} {
		st := localLake(t)
		ctx := context.Background()
		n := 20 * len(workspaces)
		for i := range int64(n) {
			// Every run lands 9 events and rejects the 10th message.
			landFile(t, st, workspaces[int(i)%len(workspaces)], yesterday, 0, 10*i, 10*i+8)
			rejectRun(t, st, yesterday, 0, 10*i+9, 1)
		}
		w := int64(5 * n)
		if _, err := lake.Commit(ctx, st, "curated/identity_map", lake.CommitInfo{Job: "resolve"}, func(m *lake.Manifest) error {
			m.Offsets = map[int32]int64{0: w}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		res, err := compact.Run(ctx, testConfig(st), compact.Options{})
		ev, rej := res.Tables[lake.TableEvents], res.Tables[lake.TableRejected]
		if err != nil || ev.Rewrites != len(workspaces) || ev.FilesIn != int64(n/2) || rej.Rewrites != 1 || rej.FilesIn != int64(n) {
			t.Fatalf("%v: %+v, %v", workspaces, res, err)
		}
		for _, f := range manifest(t, st).Files {
			if f.Kafka.First < w && f.Kafka.Last >= w {
				t.Fatalf("%v: %s straddles the watermark %d", workspaces, f.Path, w)
			}
		}
		q := manifestOf(t, st, lake.TableRejected)
		checkFileOf[lake.RejectRow](t, st, q, lake.TableRejected, "_unknown", yesterday,
			lake.OffsetRange{Partition: 0, First: 9, Last: 10*int64(n-1) + 9}, spanStep(9, 10*int64(n-1)+9, 10))
	}
}

// A commit between the rewrite and its commit: a rewrite whose inputs
// changed is dropped (its inputs stay, its output goes), the others are
// committed, and nothing the other writer committed is lost.
func TestCompactConcurrentCommit(t *testing.T) {
	st := localLake(t)
	ctx := context.Background()
	landRun(t, st, "acme", yesterday, 0, 0, 9)
	landRun(t, st, "acme", yesterday, 1, 0, 9)
	cfg := testConfig(st)
	var erased lake.File
	cfg.BeforeCommit = func(ctx context.Context) error {
		// An erasure rewrites a file of partition 0 under a new name…
		m := manifest(t, st)
		old := m.Files[0]
		if _, err := lake.Commit(ctx, st, lake.TableEvents, lake.CommitInfo{Job: "erase"}, func(m *lake.Manifest) error {
			m.Files = slices.DeleteFunc(m.Files, func(f lake.File) bool { return f.Path == old.Path })
			return nil
		}); err != nil {
			return err
		}
		erased = landFile(t, st, "acme", yesterday, old.Kafka.Partition, old.Kafka.First, old.Kafka.Last-1)
		// …and the land job commits the next file of partition 1.
		landFile(t, st, "acme", yesterday, 1, 90, 99)
		return nil
	}
	res, err := compact.Run(ctx, cfg, compact.Options{})
	if err != nil || res.Rewrites != 1 || res.Skipped != 1 {
		t.Fatalf("%+v, %v", res, err)
	}
	m := manifest(t, st)
	if len(m.Files) != 9+2 {
		t.Fatalf("%d files, want partition 0's 9 and partition 1's compacted and new one", len(m.Files))
	}
	if !slices.ContainsFunc(m.Files, func(f lake.File) bool { return f.Path == erased.Path }) {
		t.Fatal("the concurrently rewritten file is not committed")
	}
	rs := rows(t, st)
	if len(rs) != 90-1+100 {
		t.Fatalf("%d rows, want 189", len(rs))
	}
	dropped := lake.EventsKey("acme", yesterday, lake.OffsetRange{Partition: 0, First: 0, Last: 89})
	if _, err := st.Stat(ctx, dropped); !lake.IsNotExist(err) {
		t.Fatalf("the dropped rewrite %s is still on storage: %v", dropped, err)
	}
}

// The land job commits rejects while quarantine/events is compacted (a
// run that began before midnight still writes yesterday's): they stay
// committed, next to the merged file.
func TestCompactRejectsConcurrentLand(t *testing.T) {
	st := localLake(t)
	ctx := context.Background()
	rejectRun(t, st, yesterday, 0, 0, 9)
	cfg := testConfig(st)
	cfg.BeforeCommit = func(context.Context) error {
		rejectRun(t, st, yesterday, 0, 90, 1)
		rejectRun(t, st, today, 0, 100, 1)
		return nil
	}
	res, err := compact.Run(ctx, cfg, compact.Options{})
	if rej := res.Tables[lake.TableRejected]; err != nil || rej.Rewrites != 1 || rej.FilesIn != 9 || res.Skipped != 0 {
		t.Fatalf("%+v, %v", res, err)
	}
	q := manifestOf(t, st, lake.TableRejected)
	if len(q.Files) != 3 || q.Offsets[0] != 101 {
		t.Fatalf("%d files, offsets %v: want the merged one, the two landed meanwhile and the land job's offset", len(q.Files), q.Offsets)
	}
	checkFileOf[lake.RejectRow](t, st, q, lake.TableRejected, "_unknown", yesterday, lake.OffsetRange{Partition: 0, First: 0, Last: 80}, spanStep(0, 80, 10))
	if rs := rejects(t, st); len(rs) != 11 {
		t.Fatalf("%d rejects, want 11", len(rs))
	}
}

// A run that dies after writing its files and before committing them
// (the commit is the one step that makes them visible) leaves the table
// as it was; its files are held from the land job's clean-up, and the
// next run rewrites them.
func TestCompactDiesBeforeCommit(t *testing.T) {
	st := localLake(t)
	ctx := context.Background()
	landRun(t, st, "acme", yesterday, 0, 0, 12)
	before := rows(t, st)
	cfg := testConfig(st)
	killed := errors.New("killed")
	cfg.BeforeCommit = func(context.Context) error { return killed }
	if _, err := compact.Run(ctx, cfg, compact.Options{}); !errors.Is(err, killed) {
		t.Fatalf("err = %v", err)
	}
	m := manifest(t, st)
	if len(m.Files) != 12 || !reflect.DeepEqual(rows(t, st), before) {
		t.Fatalf("a run that died before its commit changed the table: %d files", len(m.Files))
	}
	out := lake.EventsKey("acme", yesterday, lake.OffsetRange{Partition: 0, First: 0, Last: 119})
	if n, err := lake.RemoveUncommitted(ctx, st, lake.TableEvents, 0); err != nil || n != 0 {
		t.Fatalf("RemoveUncommitted removed %d files: %v", n, err)
	}
	if _, err := st.Stat(ctx, out); err != nil {
		t.Fatalf("the held output %s: %v", out, err)
	}
	res, err := compact.Run(ctx, testConfig(st), compact.Options{})
	if err != nil || res.Rewrites != 1 {
		t.Fatalf("rerun: %+v, %v", res, err)
	}
	if m := manifest(t, st); len(m.Files) != 1 || m.Files[0].Path != out || !reflect.DeepEqual(rows(t, st), before) {
		t.Fatalf("after the rerun: %+v", m.Files)
	}
}
