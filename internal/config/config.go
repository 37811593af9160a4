// Package config is the schema of tributary.yaml: what a deployment
// configures, its defaults and its validation. Only cmd/ reads the file;
// components receive the typed sections they need.
package config

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/identity"
	"github.com/tributary-cdp/tributary/internal/yamlx"
)

// Config is the whole of tributary.yaml.
type Config struct {
	// DataDir holds the embedded broker, speed checkpoints and the local lake.
	DataDir    string          `yaml:"data_dir,omitempty"`
	HTTP       HTTP            `yaml:"http"`
	Kafka      Kafka           `yaml:"kafka"`
	Lake       Lake            `yaml:"lake"`
	Jobs       Jobs            `yaml:"jobs"`
	Sources    Sources         `yaml:"sources"`
	Speed      Speed           `yaml:"speed"`
	Curate     Curate          `yaml:"curate"`
	Identity   Identity        `yaml:"identity"`
	Workspaces []cdp.Workspace `yaml:"workspaces"`
	// Segments are segment definitions (see cdp.Segment). `cdpctl segment add`
	// stores more under <data_dir>/segments/; both sets are in force.
	Segments []cdp.Segment `yaml:"segments,omitempty"`
}

// HTTP configures the server's listener.
type HTTP struct {
	Addr string `yaml:"addr"`
	// ActivationAddr, when set, is a second listener that serves only the
	// activation look-ups (GET /v1/profiles/…), on fasthttp: low latency
	// for activation systems, apart from collector traffic. The main
	// address serves them too.
	ActivationAddr string `yaml:"activation_addr,omitempty"`
	// CORSOrigins are the web origins whose pages may post events to the
	// collector from a browser (analytics.js): absent, any ("*", as a write
	// key is public in a page anyway); [] none; else these origins.
	CORSOrigins []string `yaml:"cors_origins,omitempty"`
}

// Kafka configures the event bus.
type Kafka struct {
	// Brokers of an external Kafka; empty means the embedded broker.
	Brokers []string `yaml:"brokers,omitempty"`
	// EmbeddedAddr is where the embedded broker listens.
	EmbeddedAddr string `yaml:"embedded_addr"`
	// Partitions of cdp.events when Tributary creates it.
	Partitions int `yaml:"partitions"`
	// ReplicationFactor of topics Tributary creates on an external Kafka.
	ReplicationFactor int `yaml:"replication_factor"`
	// SyncWrites makes the embedded broker fsync every produced batch
	// (survives power loss, not only a process crash). Slower.
	SyncWrites bool `yaml:"sync_writes,omitempty"`
}

// Lake configures where Parquet zones live.
type Lake struct {
	// URL is file:///path or s3://bucket/prefix; empty means file://<data_dir>/lake.
	URL string `yaml:"url,omitempty"`
	// S3 is the endpoint and credentials of s3:// URLs.
	S3 S3 `yaml:"s3,omitempty"`
}

// Speed configures the speed layer: checkpoints, dedupe and identity hygiene.
type Speed struct {
	// CheckpointInterval is how often the profile store is written to <data_dir>/speed/.
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// CheckpointDeltas is how many delta checkpoints (the profiles changed
	// since the checkpoint before) may follow a full one; 0: all full.
	CheckpointDeltas int `yaml:"checkpoint_deltas"`
	// Blocklist adds junk identifier values ("value" or "type:value") to the built-in list.
	Blocklist []string `yaml:"blocklist,omitempty"`
	// Allow takes values ("value" or "type:value") off the built-in list:
	// a shop whose first customer is user id 1.
	Allow []string `yaml:"allow,omitempty"`
	// Caps is, per identifier type, how many distinct user ids one value may link
	// before it is treated as shared and stops merging profiles (0 = no cap).
	Caps map[string]int `yaml:"caps"`
	// IdentifierTraits maps an identify trait to the identifier type it carries.
	IdentifierTraits map[string]string `yaml:"identifier_traits"`
	// RecentEvents is how many recent events each profile keeps.
	RecentEvents int `yaml:"recent_events"`
	// DedupeWindow is how long a messageId is remembered (at least).
	DedupeWindow time.Duration `yaml:"dedupe_window"`
	// DedupeMaxEntries bounds the memory of the dedupe set.
	DedupeMaxEntries int `yaml:"dedupe_max_entries"`
	// GCHeadroomMiB is how far the Go heap may grow over its live size
	// before a collection, at least (GOGC's percentage decides above it;
	// 0: GOGC alone). See internal/gcpace.
	GCHeadroomMiB int `yaml:"gc_headroom_mib"`
}

// DefaultSpeed returns the speed layer defaults.
func DefaultSpeed() Speed {
	return Speed{
		CheckpointInterval: 30 * time.Second,
		CheckpointDeltas:   20,
		Caps:               map[string]int{cdp.IDEmail: 5, cdp.IDPhone: 5},
		IdentifierTraits:   map[string]string{"email": cdp.IDEmail, "phone": cdp.IDPhone},
		RecentEvents:       20,
		DedupeWindow:       24 * time.Hour,
		DedupeMaxEntries:   10_000_000,
		GCHeadroomMiB:      512,
	}
}

// Default returns a config with every default set and no workspace.
func Default() Config {
	return Config{
		DataDir:  "./data",
		HTTP:     HTTP{Addr: "127.0.0.1:8080"},
		Kafka:    Kafka{EmbeddedAddr: "127.0.0.1:9092", Partitions: 8, ReplicationFactor: 1},
		Jobs:     DefaultJobs(),
		Speed:    DefaultSpeed(),
		Curate:   DefaultCurate(),
		Identity: DefaultIdentity(),
	}
}

// Identity configures the resolve job (hygiene comes from the speed
// section, so both layers apply the same blocklist and caps), the DuckDB
// sessions of the identity jobs and, for both layers, the phone region.
type Identity struct {
	// PhoneRegion is the region (ISO 3166-1 alpha-2, as libphonenumber
	// knows it) of phone numbers written without a country code, for the
	// speed layer, the look-ups and the batch jobs alike; a workspace may
	// set its own (cdp.Workspace.PhoneRegion, PhoneRegions).
	PhoneRegion string `yaml:"phone_region"`
	// Alarm is the number of distinct user ids from which one identifier
	// value is reported as an alarm in the resolve run report.
	Alarm int `yaml:"alarm"`
	// MemoryLimit, Threads and TempDir are DuckDB's memory_limit ("4GB",
	// "80%"; empty = DuckDB's default), threads (0 = all CPUs) and spill
	// directory (empty = <data_dir>/tmp/duckdb).
	MemoryLimit string `yaml:"memory_limit,omitempty"`
	Threads     int    `yaml:"threads,omitempty"`
	TempDir     string `yaml:"temp_dir,omitempty"`
	// Model overrides parts of the probabilistic model; nil keeps the
	// default, which is meant for every data set.
	Model *IdentityModel `yaml:"model,omitempty"`
}

// PhoneRegions are the regions of phone numbers without a country code:
// identity.phone_region, and the workspaces that set their own.
func (c Config) PhoneRegions() identity.Regions {
	r := identity.Regions{Default: c.Identity.PhoneRegion}
	for _, w := range c.Workspaces {
		if w.PhoneRegion != "" && w.PhoneRegion != r.Default {
			if r.Workspaces == nil {
				r.Workspaces = map[string]string{}
			}
			r.Workspaces[w.ID] = w.PhoneRegion
		}
	}
	return r
}

// DefaultIdentity returns the identity defaults.
func DefaultIdentity() Identity { return Identity{Alarm: 20, PhoneRegion: identity.DefaultRegion} }

var memLimitRe = regexp.MustCompile(`^(\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)|\d{1,2}%|100%)$`)

func (i Identity) validate() error {
	if i.PhoneRegion == "" || !identity.ValidRegion(i.PhoneRegion) {
		return &FieldError{"identity.phone_region", fmt.Sprintf("%q is not a region libphonenumber supports: want an ISO 3166-1 alpha-2 code in upper case, such as US, GB or DE", i.PhoneRegion)}
	}
	if i.Alarm < 2 {
		return &FieldError{"identity.alarm", fmt.Sprintf("%d must be at least 2 (user ids)", i.Alarm)}
	}
	if i.Model != nil {
		if err := i.Model.Validate(); err != nil {
			return &FieldError{"identity.model", err.Error()}
		}
	}
	if i.MemoryLimit != "" && !memLimitRe.MatchString(i.MemoryLimit) {
		return &FieldError{"identity.memory_limit", fmt.Sprintf("%q is not a size such as 4GB or a percentage such as 80%%", i.MemoryLimit)}
	}
	if i.Threads < 0 || i.Threads > 1024 {
		return &FieldError{"identity.threads", fmt.Sprintf("%d is outside 0..1024 (0 = all CPUs)", i.Threads)}
	}
	return nil
}

// Parse decodes YAML over the defaults, rejecting unknown keys, and validates.
func Parse(b []byte) (Config, error) {
	c := Default()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		ps, ok := yamlx.Problems(b, c, err)
		if !ok {
			return c, fmt.Errorf("parse config: %w", err)
		}
		errs := make([]error, len(ps))
		for i, p := range ps {
			errs[i] = errors.New(p.Problem)
			if p.Key != "" {
				errs[i] = &FieldError{p.Key, p.Problem}
			}
		}
		return c, errors.Join(errs...)
	}
	return c, c.Validate()
}

// Marshal encodes the config as YAML.
func (c Config) Marshal() ([]byte, error) { return yaml.Marshal(c) }

// LakeURL returns the configured lake URL or the default under the data dir.
func (c Config) LakeURL() string {
	if c.Lake.URL != "" {
		return c.Lake.URL
	}
	abs, err := filepath.Abs(filepath.Join(c.DataDir, "lake"))
	if err != nil {
		abs = filepath.Join(c.DataDir, "lake")
	}
	return "file://" + abs
}

// Embedded reports whether the embedded broker is used.
func (c Config) Embedded() bool { return len(c.Kafka.Brokers) == 0 }

// Brokers returns the bootstrap addresses clients dial.
func (c Config) Brokers() []string {
	if c.Embedded() {
		return []string{c.Kafka.EmbeddedAddr}
	}
	return c.Kafka.Brokers
}

var idRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// FieldError names the config key at fault.
type FieldError struct {
	Key     string
	Problem string
}

func (e *FieldError) Error() string { return fmt.Sprintf("config %s: %s", e.Key, e.Problem) }

// Validate checks every key; the error names the key and the problem.
func (c Config) Validate() error {
	if c.DataDir == "" {
		return &FieldError{"data_dir", "must not be empty"}
	}
	if err := c.Curate.validate(); err != nil {
		return err
	}
	if err := c.Identity.validate(); err != nil {
		return err
	}
	if err := checkHostPort("http.addr", c.HTTP.Addr); err != nil {
		return err
	}
	if a := c.HTTP.ActivationAddr; a != "" {
		if err := checkHostPort("http.activation_addr", a); err != nil {
			return err
		}
	}
	for i, o := range c.HTTP.CORSOrigins {
		if u, err := url.Parse(o); o != "*" && (err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.String() != o) {
			return &FieldError{fmt.Sprintf("http.cors_origins[%d]", i), fmt.Sprintf("%q is not an origin: want \"*\" or scheme://host[:port], such as https://shop.example", o)}
		}
	}
	if err := checkHostPort("kafka.embedded_addr", c.Kafka.EmbeddedAddr); err != nil {
		return err
	}
	for i, b := range c.Kafka.Brokers {
		if err := checkHostPort(fmt.Sprintf("kafka.brokers[%d]", i), b); err != nil {
			return err
		}
	}
	if c.Kafka.Partitions < 1 || c.Kafka.Partitions > 1024 {
		return &FieldError{"kafka.partitions", fmt.Sprintf("%d is outside 1..1024", c.Kafka.Partitions)}
	}
	if c.Kafka.ReplicationFactor < 1 {
		return &FieldError{"kafka.replication_factor", fmt.Sprintf("%d must be at least 1", c.Kafka.ReplicationFactor)}
	}
	if u := c.Lake.URL; u != "" && !strings.HasPrefix(u, "file://") && !strings.HasPrefix(u, "s3://") {
		return &FieldError{"lake.url", fmt.Sprintf("%q must start with file:// or s3://", u)}
	}
	if err := c.validateBatch(); err != nil {
		return err
	}
	if err := c.Speed.validate(); err != nil {
		return err
	}
	seenWS := map[string]bool{}
	seenKey := map[string]string{}
	for i, w := range c.Workspaces {
		key := fmt.Sprintf("workspaces[%d]", i)
		if !idRe.MatchString(w.ID) {
			return &FieldError{key + ".id", fmt.Sprintf("%q must match %s", w.ID, idRe)}
		}
		if seenWS[w.ID] {
			return &FieldError{key + ".id", fmt.Sprintf("%q is used by another workspace", w.ID)}
		}
		seenWS[w.ID] = true
		if w.PhoneRegion != "" && !identity.ValidRegion(w.PhoneRegion) {
			return &FieldError{key + ".phone_region", fmt.Sprintf("%q is not a region libphonenumber supports: want an ISO 3166-1 alpha-2 code in upper case, such as US, GB or DE; leave it out for identity.phone_region", w.PhoneRegion)}
		}
		for j, k := range w.WriteKeys {
			if len(k) < 16 {
				return &FieldError{fmt.Sprintf("%s.write_keys[%d]", key, j), "must be at least 16 characters"}
			}
			if other, dup := seenKey[k]; dup {
				return &FieldError{fmt.Sprintf("%s.write_keys[%d]", key, j), "is also used by " + other}
			}
			seenKey[k] = key
		}
		for j, k := range w.APIKeys {
			kk := fmt.Sprintf("%s.api_keys[%d]", key, j)
			if !k.Role.Valid() {
				return &FieldError{kk + ".role", fmt.Sprintf("%q must be admin, activation or analyst", k.Role)}
			}
			switch {
			case k.Hash == "" && k.Key == "":
				return &FieldError{kk, "needs hash (sha256:<hex>) or key"}
			case k.Hash != "" && !validHash(k.Hash):
				return &FieldError{kk + ".hash", "must be sha256:<64 hex digits>"}
			case k.Key != "" && len(k.Key) < 16:
				return &FieldError{kk + ".key", "must be at least 16 characters"}
			}
		}
	}
	return c.validateSegments(seenWS)
}

// checkHostPort checks that addr is host:port with a port net.Listen and
// Kafka clients take: a number up to 65535 (or a service name).
func checkHostPort(key, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return &FieldError{key, fmt.Sprintf("%q is not host:port", addr)}
	}
	if n, err := strconv.Atoi(port); err == nil && (n < 0 || n > 65535) {
		return &FieldError{key, fmt.Sprintf("%q: port %d is outside 0..65535", addr, n)}
	}
	return nil
}

// validateSegments checks every segment (normalizing its literals in
// place), that its workspace is configured and that ids are unique per
// workspace.
func (c Config) validateSegments(workspaces map[string]bool) error {
	seen := map[string]bool{}
	for i := range c.Segments {
		s := &c.Segments[i]
		key := fmt.Sprintf("segments[%d]", i)
		if err := s.Validate(); err != nil {
			var ve *cdp.ValidationError
			if !errors.As(err, &ve) {
				return &FieldError{key, err.Error()}
			}
			problem := ve.Rule
			if ve.Value != "" {
				problem += fmt.Sprintf(" (got %q)", ve.Value)
			}
			return &FieldError{key + "." + ve.Field, problem}
		}
		if !workspaces[s.Workspace] {
			return &FieldError{key + ".workspace", fmt.Sprintf("%q is not a configured workspace", s.Workspace)}
		}
		if seen[s.Workspace+"/"+s.ID] {
			return &FieldError{key + ".id", fmt.Sprintf("%q is used by another segment of workspace %q", s.ID, s.Workspace)}
		}
		seen[s.Workspace+"/"+s.ID] = true
	}
	return nil
}

var typeRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

func (s Speed) validate() error {
	if s.CheckpointInterval < time.Second || s.CheckpointInterval > time.Hour {
		return &FieldError{"speed.checkpoint_interval", fmt.Sprintf("%s is outside 1s..1h", s.CheckpointInterval)}
	}
	if s.CheckpointDeltas < 0 || s.CheckpointDeltas > 1000 {
		return &FieldError{"speed.checkpoint_deltas", fmt.Sprintf("%d is outside 0..1000", s.CheckpointDeltas)}
	}
	for typ, n := range s.Caps {
		if !typeRe.MatchString(typ) {
			return &FieldError{"speed.caps." + typ, fmt.Sprintf("%q is not an identifier type (lower case, digits, _)", typ)}
		}
		if n < 0 {
			return &FieldError{"speed.caps." + typ, fmt.Sprintf("%d must be 0 (no cap) or more", n)}
		}
	}
	for trait, typ := range s.IdentifierTraits {
		if trait == "" || !typeRe.MatchString(typ) {
			return &FieldError{"speed.identifier_traits." + trait, fmt.Sprintf("%q is not an identifier type (lower case, digits, _)", typ)}
		}
	}
	for i, a := range s.Allow {
		if err := identity.CheckAllow(a, s.Blocklist); err != nil {
			return &FieldError{fmt.Sprintf("speed.allow[%d]", i), err.Error()}
		}
	}
	if s.RecentEvents < 0 || s.RecentEvents > 1000 {
		return &FieldError{"speed.recent_events", fmt.Sprintf("%d is outside 0..1000", s.RecentEvents)}
	}
	if s.DedupeWindow < time.Hour {
		return &FieldError{"speed.dedupe_window", fmt.Sprintf("%s must be at least 1h (retries come back for hours)", s.DedupeWindow)}
	}
	if s.GCHeadroomMiB < 0 || s.GCHeadroomMiB > 1<<20 {
		return &FieldError{"speed.gc_headroom_mib", fmt.Sprintf("%d is outside 0..1048576", s.GCHeadroomMiB)}
	}
	if s.DedupeMaxEntries < 1000 {
		return &FieldError{"speed.dedupe_max_entries", fmt.Sprintf("%d must be at least 1000", s.DedupeMaxEntries)}
	}
	return nil
}

func validHash(h string) bool {
	hexPart, ok := strings.CutPrefix(h, "sha256:")
	if !ok || len(hexPart) != 64 {
		return false
	}
	_, err := hex.DecodeString(hexPart)
	return err == nil
}

// HashKey returns the stored form of an API key.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewKey returns prefix + 32 random base62 characters from crypto/rand.
func NewKey(prefix string) (string, error) {
	var sb strings.Builder
	sb.WriteString(prefix)
	max := big.NewInt(int64(len(alphabet)))
	for range 32 {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("generate key: %w", err)
		}
		sb.WriteByte(alphabet[n.Int64()])
	}
	return sb.String(), nil
}
