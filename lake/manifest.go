package lake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Zones of the lake.
const (
	ZoneRaw        = "raw"
	ZoneClean      = "clean"
	ZoneCurated    = "curated"
	ZoneQuarantine = "quarantine"
	// MetaPrefix holds manifests, job runs, locks and source definitions.
	MetaPrefix = "_meta/"
)

// Tables the land job writes: the events, and the messages that are not
// valid events.
const (
	TableEvents   = "raw/events"
	TableRejected = "quarantine/events"
)

var tableRe = regexp.MustCompile(`^(raw|clean|curated|quarantine)/[a-z0-9][a-z0-9_]*$`)

// ValidTable checks that table is "<zone>/<name>".
func ValidTable(table string) error {
	if !tableRe.MatchString(table) {
		return &KeyError{table, "is not a table name <raw|clean|curated|quarantine>/<lower-case name>"}
	}
	return nil
}

// PartitionDir is the Hive-style directory of one workspace and day:
// "<table>/workspace=<w>/date=<YYYY-MM-DD>".
func PartitionDir(table, workspace, date string) string {
	return table + "/workspace=" + workspace + "/date=" + date
}

// EventsKey is the key of a raw/events file of one workspace and day that
// holds the offsets r of one Kafka partition:
// "raw/events/workspace=W/date=D/part-<partition>-<first>-<last>.parquet".
func EventsKey(workspace, date string, r OffsetRange) string {
	return PartKey(TableEvents, workspace, date, r)
}

// PartKey is the key of a file of table landed from the offsets r of one
// Kafka partition, named like a raw/events file.
func PartKey(table, workspace, date string, r OffsetRange) string {
	return fmt.Sprintf("%s/part-%d-%d-%d.parquet", PartitionDir(table, workspace, date), r.Partition, r.First, r.Last)
}

// OffsetRange bounds the Kafka offsets a file holds, inclusive: the
// offsets of other workspaces and days landed in the same run fall
// between them, so a file need not hold every offset in its range.
type OffsetRange struct {
	Partition int32 `json:"partition"`
	First     int64 `json:"first"`
	Last      int64 `json:"last"`
}

// File is one committed data file of a table.
type File struct {
	Path      string `json:"path"`
	Rows      int64  `json:"rows"`
	Bytes     int64  `json:"bytes"`
	Workspace string `json:"workspace,omitempty"`
	Date      string `json:"date,omitempty"`
	// Kafka is set on files landed from Kafka.
	Kafka *OffsetRange `json:"kafka,omitempty"`
	// Checksum is the SHA-256 of the input file a row set came from
	// (ingested sources).
	Checksum string `json:"checksum,omitempty"`
}

// Input is one source file an ingest run consumed; its checksum is what
// makes a second drop of the same content a no-op.
type Input struct {
	Checksum    string    `json:"checksum"`
	Name        string    `json:"name"`
	Size        int64     `json:"size"`
	ModTime     time.Time `json:"mod_time,omitzero"`
	Rows        int64     `json:"rows"`
	Quarantined int64     `json:"quarantined"`
	IngestedAt  time.Time `json:"ingested_at"`
}

// Manifest is one committed version of a table. It is stored as JSON at
// _meta/manifests/<table>/v<20-digit version>.json and never changed.
type Manifest struct {
	Table       string    `json:"table"`
	Version     int64     `json:"version"`
	CommittedAt time.Time `json:"committed_at"`
	Job         string    `json:"job,omitempty"`
	RunID       string    `json:"run_id,omitempty"`
	// Files is every committed file of the table, sorted by path.
	Files []File `json:"files"`
	// Offsets maps a Kafka partition of cdp.events to the next offset not
	// yet included: for raw/events the landed offsets, for a curated
	// table its watermark W.
	Offsets map[int32]int64 `json:"offsets,omitempty"`
	// Inputs are the source files consumed so far, by checksum.
	Inputs map[string]Input `json:"inputs,omitempty"`
	// Holds keep files the manifest does not name on storage for a while
	// (see [RemoveUncommitted]), sorted by path.
	Holds []Hold `json:"holds,omitempty"`
}

// Hold keeps a file that the manifest does not name from being removed
// as uncommitted until Until: a file a rewrite is writing and will
// commit before then, or one it replaced that readers of an older
// version may still be scanning.
type Hold struct {
	Path  string    `json:"path"`
	Until time.Time `json:"until"`
}

// ManifestDir is where the versions of table's manifest live.
func ManifestDir(table string) string { return MetaPrefix + "manifests/" + table + "/" }

// ManifestKey is the key of one version.
func ManifestKey(table string, version int64) string {
	return fmt.Sprintf("%sv%020d.json", ManifestDir(table), version)
}

func parseVersion(table, key string) (int64, bool) {
	name, ok := strings.CutPrefix(key, ManifestDir(table))
	if !ok || !strings.HasPrefix(name, "v") || !strings.HasSuffix(name, ".json") || strings.Contains(name, "/") {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.TrimSuffix(name[1:], ".json"), 10, 64)
	return v, err == nil
}

// Versions lists the committed versions of table, ascending.
func Versions(ctx context.Context, st Storage, table string) ([]int64, error) {
	if err := ValidTable(table); err != nil {
		return nil, err
	}
	objs, err := st.List(ctx, ManifestDir(table))
	if err != nil {
		return nil, fmt.Errorf("list manifests of %s: %w", table, err)
	}
	var vs []int64
	for _, o := range objs {
		if v, ok := parseVersion(table, o.Key); ok {
			vs = append(vs, v)
		}
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i] < vs[j] })
	return vs, nil
}

// ReadManifest reads one version of table's manifest.
func ReadManifest(ctx context.Context, st Storage, table string, version int64) (*Manifest, error) {
	b, err := ReadObject(ctx, st, ManifestKey(table, version))
	if err != nil {
		return nil, fmt.Errorf("read manifest %s v%d: %w", table, version, err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode manifest %s v%d: %w", table, version, err)
	}
	return &m, nil
}

// LatestManifest returns the newest committed manifest of table, or an
// empty manifest with Version 0 when nothing was committed yet.
func LatestManifest(ctx context.Context, st Storage, table string) (*Manifest, error) {
	vs, err := Versions(ctx, st, table)
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return &Manifest{Table: table}, nil
	}
	return ReadManifest(ctx, st, table, vs[len(vs)-1])
}

// CommittedFiles returns the files of the latest manifest of table: the
// only files readers may see.
func CommittedFiles(ctx context.Context, st Storage, table string) ([]File, error) {
	m, err := LatestManifest(ctx, st, table)
	if err != nil {
		return nil, err
	}
	return m.Files, nil
}

// CommitInfo names who commits.
type CommitInfo struct {
	Job   string
	RunID string
}

// ConflictError is returned when another writer committed the version
// this commit was based on first, more times than Commit retries.
type ConflictError struct {
	Table   string
	Version int64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("commit %s v%d: another writer committed this version first", e.Table, e.Version)
}

// keepVersions is how many manifest versions Commit leaves behind.
const keepVersions = 20

// Commit applies update to a copy of the latest manifest of table and
// stores the result as the next version with PutIfAbsent: all of it
// becomes visible at once, or none of it. When another writer won the
// race, Commit re-reads and re-applies update, a few times.
// Files paths must lie under the table; Files is kept sorted and unique
// by path (a later entry for a path replaces the earlier one).
func Commit(ctx context.Context, st Storage, table string, who CommitInfo, update func(m *Manifest) error) (*Manifest, error) {
	var lastErr error
	for range 5 {
		cur, err := LatestManifest(ctx, st, table)
		if err != nil {
			return nil, err
		}
		next := cur.clone()
		if err := update(next); err != nil {
			return nil, err
		}
		next.Table = table
		next.Version = cur.Version + 1
		next.CommittedAt = time.Now().UTC()
		next.Job, next.RunID = who.Job, who.RunID
		// An expired hold protects nothing: the file is uncommitted like
		// any other.
		next.Holds = slices.DeleteFunc(next.Holds, func(h Hold) bool { return !h.Until.After(next.CommittedAt) })
		if err := next.normalize(); err != nil {
			return nil, err
		}
		b, err := json.MarshalIndent(next, "", " ")
		if err != nil {
			return nil, fmt.Errorf("encode manifest %s: %w", table, err)
		}
		err = st.PutIfAbsent(ctx, ManifestKey(table, next.Version), bytes.NewReader(b))
		if err == nil {
			pruneVersions(ctx, st, table, next.Version)
			return next, nil
		}
		if !IsExist(err) {
			return nil, fmt.Errorf("commit manifest %s v%d: %w", table, next.Version, err)
		}
		lastErr = &ConflictError{table, next.Version}
	}
	return nil, lastErr
}

func pruneVersions(ctx context.Context, st Storage, table string, latest int64) {
	if latest <= keepVersions || latest%10 != 0 {
		return
	}
	vs, err := Versions(ctx, st, table)
	if err != nil {
		return
	}
	for _, v := range vs {
		if v <= latest-keepVersions {
			_ = st.Delete(ctx, ManifestKey(table, v))
		}
	}
}

func (m *Manifest) clone() *Manifest {
	c := *m
	c.Files = append([]File(nil), m.Files...)
	c.Holds = append([]Hold(nil), m.Holds...)
	if m.Offsets != nil {
		c.Offsets = make(map[int32]int64, len(m.Offsets))
		for k, v := range m.Offsets {
			c.Offsets[k] = v
		}
	}
	if m.Inputs != nil {
		c.Inputs = make(map[string]Input, len(m.Inputs))
		for k, v := range m.Inputs {
			c.Inputs[k] = v
		}
	}
	return &c
}

func (m *Manifest) normalize() error {
	byPath := make(map[string]int, len(m.Files))
	out := m.Files[:0]
	for _, f := range m.Files {
		if !strings.HasPrefix(f.Path, m.Table+"/") || ValidKey(f.Path) != nil {
			return fmt.Errorf("commit manifest %s: file %q is not under the table", m.Table, f.Path)
		}
		if i, ok := byPath[f.Path]; ok {
			out[i] = f
			continue
		}
		byPath[f.Path] = len(out)
		out = append(out, f)
	}
	m.Files = out
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	for _, h := range m.Holds {
		if !strings.HasPrefix(h.Path, m.Table+"/") || ValidKey(h.Path) != nil {
			return fmt.Errorf("commit manifest %s: held file %q is not under the table", m.Table, h.Path)
		}
	}
	sort.Slice(m.Holds, func(i, j int) bool { return m.Holds[i].Path < m.Holds[j].Path })
	return nil
}

// Rows is the total row count of the manifest's files.
func (m *Manifest) Rows() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Rows
	}
	return n
}

// RemoveUncommitted deletes the data files under table that the latest
// manifest does not name, does not hold (Manifest.Holds) and that are
// older than minAge: the leftovers of runs that died before their commit.
// A writer may call it with minAge 0 when it holds the only job lock that
// writes the table, or when the table's other writers hold what they
// write until they commit it (compact does, on raw/events).
func RemoveUncommitted(ctx context.Context, st Storage, table string, minAge time.Duration) (int, error) {
	// List before reading the manifest: a file another writer wrote after
	// holding it is listed only if its hold is in the manifest read next.
	objs, err := st.List(ctx, table+"/")
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", table, err)
	}
	m, err := LatestManifest(ctx, st, table)
	if err != nil {
		return 0, err
	}
	keep := make(map[string]bool, len(m.Files)+len(m.Holds))
	for _, f := range m.Files {
		keep[f.Path] = true
	}
	now := time.Now()
	for _, h := range m.Holds {
		if h.Until.After(now) {
			keep[h.Path] = true
		}
	}
	n := 0
	cutoff := now.Add(-minAge)
	for _, o := range objs {
		if keep[o.Key] || o.ModTime.After(cutoff) {
			continue
		}
		if err := st.Delete(ctx, o.Key); err != nil {
			return n, fmt.Errorf("remove uncommitted %s: %w", o.Key, err)
		}
		n++
	}
	return n, nil
}

// FileDate extracts the date=… value of a Hive-style path ("" if none).
func FileDate(p string) string {
	for seg := range strings.SplitSeq(path.Dir(p), "/") {
		if v, ok := strings.CutPrefix(seg, "date="); ok {
			return v
		}
	}
	return ""
}

// LandedOffsets returns, per Kafka partition of cdp.events, the next
// offset the land job has not landed yet, and the raw/events manifest
// version they come from: the watermark a curated build states when it
// includes every landed event.
func LandedOffsets(ctx context.Context, st Storage) (map[int32]int64, int64, error) {
	m, err := LatestManifest(ctx, st, TableEvents)
	if err != nil {
		return nil, 0, err
	}
	out := make(map[int32]int64, len(m.Offsets))
	for p, o := range m.Offsets {
		out[p] = o
	}
	return out, m.Version, nil
}
