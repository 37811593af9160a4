package config

import (
	"strings"
	"testing"
	"time"
)

func TestBatchSections(t *testing.T) {
	c, err := Parse([]byte(`
lake:
  url: s3://lake/prod
  s3: {endpoint: "127.0.0.1:9000", access_key: k, secret_key: s, insecure: true}
jobs:
  lock_ttl: 30s
  land_chunk_events: 1000
  compact: {min_files: 4, target_mib: 64, grace: 2h}
  schedules: {land: "*/5 * * * *", ingest: "@every 10m"}
sources: {sftp_key_file: /keys/id_ed25519}
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Jobs.LockTTL != 30*time.Second || c.Jobs.Schedules["ingest"] != "@every 10m" || c.Lake.S3.Endpoint != "127.0.0.1:9000" ||
		!c.Lake.S3.Insecure || c.Sources.SFTPKeyFile != "/keys/id_ed25519" || c.Jobs.LandChunkEvents != 1000 ||
		c.Jobs.Compact != (Compact{MinFiles: 4, TargetMiB: 64, Grace: 2 * time.Hour}) {
		t.Fatalf("parsed %+v", c)
	}
	if d := Default(); d.Jobs.LockTTL != time.Minute || d.Jobs.LandChunkEvents != 500_000 ||
		d.Jobs.Compact != (Compact{MinFiles: 8, TargetMiB: 128, Grace: time.Hour}) {
		t.Fatalf("defaults %+v", d.Jobs)
	}
	for _, bad := range []struct{ yaml, key string }{
		{"jobs: {lock_ttl: 10ms}", "jobs.lock_ttl"},
		{"jobs: {land_chunk_events: 0}", "jobs.land_chunk_events"},
		{"jobs: {compact: {min_files: 0}}", "jobs.compact.min_files"},
		{"jobs: {compact: {target_mib: 0}}", "jobs.compact.target_mib"},
		{"jobs: {compact: {grace: 10ms}}", "jobs.compact.grace"},
		{`jobs: {schedules: {"Land Job": "@hourly"}}`, "jobs.schedules"},
		{`jobs: {schedules: {land: " "}}`, "jobs.schedules.land"},
		{"lake: {s3: {endpoint: \"http://minio:9000/x\"}}", "lake.s3.endpoint"},
		{"lake: {s3: {max_retries: -1}}", "lake.s3.max_retries"},
	} {
		_, err := Parse([]byte(bad.yaml))
		if err == nil || !strings.Contains(err.Error(), bad.key) {
			t.Errorf("%s: err = %v, want it to name %s", bad.yaml, err, bad.key)
		}
	}
}
