// Package lake is Tributary's batch storage: zones of Parquet files on a
// local disk or any S3-compatible store, and the manifests that make a
// job's output visible all at once.
//
// # Storage
//
// [Storage] is the one interface every backend implements (lake/local,
// lake/s3; lake/lakeurl opens one from a URL). Put is atomic: a reader sees
// the whole object or nothing. PutIfAbsent is exclusive: of two concurrent
// callers at most one succeeds; manifests and job locks rely on it.
//
// # Zones and paths
//
//	raw/events/workspace=W/date=YYYY-MM-DD/part-<partition>-<first>-<last>.parquet
//	raw/<source>/workspace=W/date=YYYY-MM-DD/<file-checksum>.parquet
//	quarantine/<source>/workspace=W/date=YYYY-MM-DD/<file-checksum>.parquet
//	quarantine/events/workspace=_unknown/date=YYYY-MM-DD/part-<partition>-<first>-<last>.parquet
//	clean/…  curated/…
//	_meta/manifests/<table>/v<version>.json   committed state of a table
//	_meta/jobs/…  _meta/locks/…  _meta/sources/…
//
// A table is a zone plus a name ("raw/events", "quarantine/crm_customers").
// Partitions are Hive-style, so DuckDB, Spark and pyarrow read them as
// they are.
//
// # Manifests
//
// A job writes new immutable files, then commits a new manifest version
// of the table with [Commit]. Version n+1 is created with PutIfAbsent, so
// a commit is a single atomic step (a link locally, one conditional PUT on
// S3) and two writers cannot both commit the same version. A manifest
// lists every committed file of the table ([Manifest.Files]); files that
// no manifest names are invisible to readers ([CommittedFiles]) and are
// removed by the next writer ([RemoveUncommitted]), unless the manifest
// holds them for a while ([Hold]: files a rewrite is writing, or replaced
// files that readers of an older version may still scan). The land job also
// records, per Kafka partition, the next offset to land
// ([Manifest.Offsets]); a curated build states the offsets it includes
// the same way (its watermark).
package lake
