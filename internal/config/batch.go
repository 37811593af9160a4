package config

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"
)

// S3 is the endpoint and credentials of s3:// lake URLs and s3:// source
// locations. Credentials may also come from AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY (cmd fills them in when these keys are empty).
type S3 struct {
	// Endpoint is host:port of the S3 API; empty means s3.amazonaws.com.
	Endpoint  string `yaml:"endpoint,omitempty"`
	AccessKey string `yaml:"access_key,omitempty"`
	SecretKey string `yaml:"secret_key,omitempty"`
	Region    string `yaml:"region,omitempty"`
	// Insecure uses plain HTTP (a MinIO on localhost).
	Insecure bool `yaml:"insecure,omitempty"`
	// MaxRetries per request; an outage fails a run after this many tries.
	MaxRetries int `yaml:"max_retries,omitempty"`
}

// Jobs configures the batch job runner.
type Jobs struct {
	// Schedules maps a job name to a cron spec run by `cdpctl serve`
	// ("*/5 * * * *", "@every 10m", "@hourly").
	Schedules map[string]string `yaml:"schedules,omitempty"`
	// LockTTL is how long a job's lease lasts without renewal.
	LockTTL time.Duration `yaml:"lock_ttl"`
	// SpoolDir holds Parquet files being written before they go to the
	// lake; empty means the OS temp dir.
	SpoolDir string `yaml:"spool_dir,omitempty"`
	// LandChunkEvents is how many events of one partition the land job
	// commits at once (bounds memory and the work a crash makes redo).
	LandChunkEvents int `yaml:"land_chunk_events"`
	// Compact tunes the compact job.
	Compact Compact `yaml:"compact"`
}

// Compact tunes the compact job (batch/compact).
type Compact struct {
	// MinFiles: a run of a day's files of one partition and workspace is
	// rewritten when it has more.
	MinFiles int `yaml:"min_files"`
	// TargetMiB is the input size per output file; files of at least
	// half of it are left as they are.
	TargetMiB int `yaml:"target_mib"`
	// Grace is how long replaced files stay for readers of older
	// manifest versions (the longest query over raw/events).
	Grace time.Duration `yaml:"grace"`
}

// Sources configures how the ingest job reaches file drops.
type Sources struct {
	// SFTPKeyFile is the private key for sftp:// locations.
	SFTPKeyFile string `yaml:"sftp_key_file,omitempty"`
	// SFTPKnownHosts is an OpenSSH known_hosts file that pins server keys;
	// empty accepts any host key (say so only on a trusted network).
	SFTPKnownHosts string `yaml:"sftp_known_hosts,omitempty"`
}

// DefaultJobs returns the job defaults: no schedule, a 1-minute lease.
func DefaultJobs() Jobs {
	return Jobs{LockTTL: time.Minute, LandChunkEvents: 500_000, Compact: Compact{MinFiles: 8, TargetMiB: 128, Grace: time.Hour}}
}

var jobNameRe = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,39}$`)

func (c Config) validateBatch() error {
	if e := c.Lake.S3.Endpoint; e != "" {
		if _, _, err := net.SplitHostPort(e); err != nil && strings.Contains(e, "/") {
			return &FieldError{"lake.s3.endpoint", fmt.Sprintf("%q must be host or host:port, without scheme or path", e)}
		}
	}
	if c.Lake.S3.MaxRetries < 0 {
		return &FieldError{"lake.s3.max_retries", fmt.Sprintf("%d must not be negative", c.Lake.S3.MaxRetries)}
	}
	if c.Jobs.LockTTL < time.Second || c.Jobs.LockTTL > time.Hour {
		return &FieldError{"jobs.lock_ttl", fmt.Sprintf("%s is outside 1s..1h", c.Jobs.LockTTL)}
	}
	if c.Jobs.LandChunkEvents < 1 {
		return &FieldError{"jobs.land_chunk_events", fmt.Sprintf("%d must be at least 1", c.Jobs.LandChunkEvents)}
	}
	if cc := c.Jobs.Compact; cc.MinFiles < 1 {
		return &FieldError{"jobs.compact.min_files", fmt.Sprintf("%d must be at least 1", cc.MinFiles)}
	} else if cc.TargetMiB < 1 || cc.TargetMiB > 1<<14 {
		return &FieldError{"jobs.compact.target_mib", fmt.Sprintf("%d is outside 1..16384", cc.TargetMiB)}
	} else if cc.Grace < time.Second {
		return &FieldError{"jobs.compact.grace", fmt.Sprintf("%s must be at least 1s", cc.Grace)}
	}
	for name, spec := range c.Jobs.Schedules {
		if !jobNameRe.MatchString(name) {
			return &FieldError{"jobs.schedules." + name, "is not a job name"}
		}
		if strings.TrimSpace(spec) == "" {
			return &FieldError{"jobs.schedules." + name, "cron spec is empty"}
		}
	}
	return nil
}
