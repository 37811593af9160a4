package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tributary-cdp/tributary/internal/yamlx"
	"github.com/tributary-cdp/tributary/lake"
)

// Source kinds.
const (
	KindProfiles = "profiles"
	KindEvents   = "events"
)

// Source is a file drop defined at runtime (`cdpctl source add FILE`).
// Its YAML form is the contract:
//
//	name: crm_customers            # the table raw/crm_customers
//	workspace: default
//	location: file:///drops/crm    # or s3://bucket/prefix or sftp://user@host:port/path
//	format: {type: csv, header: true, delimiter: ",", encoding: utf-8}
//	kind: profiles                 # profiles | events (events need a timestamp field)
//	fields:                        # canonical name → where it comes from
//	  customer_id: {column: "Customer ID", identifier: customer_id, required: true}
//	  email: {column: "E-mail", transforms: [trim, lower], identifier: email}
type Source struct {
	Name      string `yaml:"name"`
	Workspace string `yaml:"workspace"`
	Location  string `yaml:"location"`
	Format    Format `yaml:"format"`
	Kind      string `yaml:"kind"`
	Fields    Fields `yaml:"fields"`
}

// Format says how a file is parsed.
type Format struct {
	// Type is csv, jsonl, json (an array of objects) or parquet.
	Type string `yaml:"type"`
	// Header says the first CSV row names the columns (default true).
	Header *bool `yaml:"header,omitempty"`
	// Delimiter is one character (default ","; "\t" for tab).
	Delimiter string `yaml:"delimiter,omitempty"`
	// Encoding is utf-8 (default) or latin-1.
	Encoding string `yaml:"encoding,omitempty"`
}

// HasHeader reports whether CSV files start with a header row.
func (f Format) HasHeader() bool { return f.Header == nil || *f.Header }

// Field maps one canonical field to its input column.
type Field struct {
	// Name is the canonical field name: the Parquet column.
	Name string `yaml:"-"`
	// Column is the header name (CSV), key or dotted path (JSON) or column
	// (Parquet); a 1-based number for CSV files without header. Default: Name.
	Column     string   `yaml:"column,omitempty"`
	Transforms []string `yaml:"transforms,omitempty"`
	// Identifier is the identifier type the value carries (email, phone,
	// customer_id, …), for identity resolution.
	Identifier string `yaml:"identifier,omitempty"`
	Required   bool   `yaml:"required,omitempty"`
}

// Fields keeps the order the definition declares.
type Fields []Field

// UnmarshalYAML reads a mapping of name → field, in order.
func (fs *Fields) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: fields must be a mapping of canonical name → {column, transforms, identifier, required}", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		var f Field
		if err := decodeStrict(n.Content[i+1], &f); err != nil {
			return fmt.Errorf("field %s: %w", n.Content[i].Value, err)
		}
		f.Name = n.Content[i].Value
		*fs = append(*fs, f)
	}
	return nil
}

// MarshalYAML writes the mapping back in order.
func (fs Fields) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, f := range fs {
		var v yaml.Node
		if err := v.Encode(f); err != nil {
			return nil, err
		}
		v.Style = yaml.FlowStyle
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: f.Name}, &v)
	}
	return n, nil
}

func decodeStrict(n *yaml.Node, v any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// ParseSource decodes and validates a YAML definition; unknown keys are
// errors (a typo must not silently drop a field).
func ParseSource(b []byte) (*Source, error) {
	var s Source
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("source definition is empty")
		}
		ps, ok := yamlx.Problems(b, s, err)
		if !ok {
			return nil, fmt.Errorf("parse source definition: %w", err)
		}
		errs := make([]error, len(ps))
		for i, p := range ps {
			errs[i] = fmt.Errorf("parse source definition: %s", p.Problem)
			if p.Key != "" {
				errs[i] = &DefinitionError{Key: p.Key, Problem: p.Problem}
			}
		}
		return nil, errors.Join(errs...)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Marshal encodes the definition as YAML.
func (s *Source) Marshal() ([]byte, error) { return yaml.Marshal(s) }

// DefinitionError names the key of a source definition at fault.
type DefinitionError struct {
	Source  string
	Key     string
	Problem string
}

func (e *DefinitionError) Error() string {
	if e.Source == "" {
		return fmt.Sprintf("source definition: %s: %s", e.Key, e.Problem)
	}
	return fmt.Sprintf("source %s: %s: %s", e.Source, e.Key, e.Problem)
}

var (
	sourceNameRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	workspaceRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	fieldNameRe  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
)

// Validate checks every key and fills defaults (delimiter, encoding,
// column names).
func (s *Source) Validate() error {
	bad := func(key, problem string, args ...any) error {
		return &DefinitionError{Source: s.Name, Key: key, Problem: fmt.Sprintf(problem, args...)}
	}
	if !sourceNameRe.MatchString(s.Name) {
		return bad("name", "%q must be lower case letters, digits and _ (it becomes the table raw/<name>)", s.Name)
	}
	if s.Name == "events" {
		return bad("name", `"events" is the table the land job writes; choose another name`)
	}
	if strings.HasSuffix(s.Name, "_values") {
		// Cleanse writes quarantine/<source>_values beside quarantine/<source>:
		// a source x_values would share its quarantine table with x's.
		return bad("name", "%q ends in _values, the suffix of cleanse's quarantine/<source>_values tables; choose another name", s.Name)
	}
	if !workspaceRe.MatchString(s.Workspace) {
		return bad("workspace", "%q is not a workspace id", s.Workspace)
	}
	if err := validLocation(s.Location); err != nil {
		return bad("location", "%v", err)
	}
	switch s.Format.Type {
	case "csv", "jsonl", "json", "parquet":
	default:
		return bad("format.type", "%q must be csv, jsonl, json or parquet", s.Format.Type)
	}
	switch strings.ToLower(s.Format.Encoding) {
	case "", "utf-8", "utf8":
		s.Format.Encoding = "utf-8"
	case "latin-1", "latin1", "iso-8859-1", "windows-1252", "cp1252":
		s.Format.Encoding = "latin-1"
	default:
		return bad("format.encoding", "%q must be utf-8 or latin-1", s.Format.Encoding)
	}
	if s.Format.Type == "csv" {
		if s.Format.Delimiter == "" {
			s.Format.Delimiter = ","
		}
		if s.Format.Delimiter == `\t` {
			s.Format.Delimiter = "\t"
		}
		if r := []rune(s.Format.Delimiter); len(r) != 1 || r[0] == '"' || r[0] == '\r' || r[0] == '\n' {
			return bad("format.delimiter", "%q must be one character other than a quote or newline", s.Format.Delimiter)
		}
	} else if s.Format.Delimiter != "" || s.Format.Header != nil {
		return bad("format", "delimiter and header apply to csv only")
	}
	switch s.Kind {
	case KindProfiles, KindEvents:
	default:
		return bad("kind", "%q must be profiles or events", s.Kind)
	}
	if len(s.Fields) == 0 {
		return bad("fields", "at least one field is required")
	}
	seen := map[string]bool{}
	for i := range s.Fields {
		f := &s.Fields[i]
		key := "fields." + f.Name
		if !fieldNameRe.MatchString(f.Name) {
			return bad(key, "field name must be lower case letters, digits and _")
		}
		if strings.HasPrefix(f.Name, "_") || seen[f.Name] {
			return bad(key, "is declared twice or starts with _ (reserved)")
		}
		seen[f.Name] = true
		if f.Column == "" {
			f.Column = f.Name
		}
		if s.Format.Type == "csv" && !s.Format.HasHeader() {
			if n, err := strconv.Atoi(f.Column); err != nil || n < 1 {
				return bad(key+".column", "%q must be a 1-based column number when format.header is false", f.Column)
			}
		}
		if f.Identifier != "" && !fieldNameRe.MatchString(f.Identifier) {
			return bad(key+".identifier", "%q is not an identifier type (lower case letters, digits, _)", f.Identifier)
		}
		if _, err := compileTransforms(f.Transforms); err != nil {
			return bad(key+".transforms", "%v", err)
		}
	}
	if s.Kind == KindEvents {
		ts := s.Field("timestamp")
		if ts == nil {
			return bad("fields", "kind events needs a field named timestamp (with a parse_time transform)")
		}
		if t, _ := compileTransforms(ts.Transforms); t.typ != typeTimestamp {
			return bad("fields.timestamp.transforms", "must end with parse_time:<layouts> so the value is a time")
		}
	}
	return nil
}

// Field returns the field named name, or nil.
func (s *Source) Field(name string) *Field {
	for i := range s.Fields {
		if s.Fields[i].Name == name {
			return &s.Fields[i]
		}
	}
	return nil
}

// Table is the raw table the source lands in.
func (s *Source) Table() string { return lake.ZoneRaw + "/" + s.Name }

// QuarantineTable is where the source's rejected rows go.
func (s *Source) QuarantineTable() string { return lake.ZoneQuarantine + "/" + s.Name }

// Identifiers maps each field that carries an identifier to its type.
func (s *Source) Identifiers() map[string]string {
	out := map[string]string{}
	for _, f := range s.Fields {
		if f.Identifier != "" {
			out[f.Name] = f.Identifier
		}
	}
	return out
}

func validLocation(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %v", raw, err)
	}
	switch u.Scheme {
	case "file":
		if u.Path == "" || (u.Host != "" && u.Host != "localhost") {
			return fmt.Errorf("%q: want file:///absolute/path", raw)
		}
	case "s3":
		if u.Host == "" {
			return fmt.Errorf("%q: want s3://bucket/prefix", raw)
		}
	case "sftp":
		if u.Host == "" || u.User == nil || u.User.Username() == "" {
			return fmt.Errorf("%q: want sftp://user@host:port/path", raw)
		}
		if _, ok := u.User.Password(); ok {
			return fmt.Errorf("%q: put no password in the URL; sftp uses the key file from the config (sources.sftp_key_file)", raw)
		}
	default:
		return fmt.Errorf("%q: scheme must be file, s3 or sftp", raw)
	}
	return nil
}

// SourcesPrefix is where definitions are stored.
const SourcesPrefix = lake.MetaPrefix + "sources/"

// Store keeps source definitions in the lake under _meta/sources/, so
// every process (serve, job run) sees a source as soon as it is added.
type Store struct {
	st lake.Storage
}

// NewStore returns the store of st.
func NewStore(st lake.Storage) *Store { return &Store{st: st} }

func sourceKey(name string) string { return SourcesPrefix + name + ".yaml" }

// Add validates and stores s; replace allows overwriting a definition.
func (s *Store) Add(ctx context.Context, src *Source, replace bool) error {
	if err := src.Validate(); err != nil {
		return err
	}
	b, err := src.Marshal()
	if err != nil {
		return fmt.Errorf("encode source %s: %w", src.Name, err)
	}
	if replace {
		err = s.st.Put(ctx, sourceKey(src.Name), bytes.NewReader(b))
	} else {
		err = s.st.PutIfAbsent(ctx, sourceKey(src.Name), bytes.NewReader(b))
		if lake.IsExist(err) {
			return fmt.Errorf("source %s already exists; remove it first or add with --replace", src.Name)
		}
	}
	if err != nil {
		return fmt.Errorf("store source %s: %w", src.Name, err)
	}
	return nil
}

// Get reads one definition.
func (s *Store) Get(ctx context.Context, name string) (*Source, error) {
	b, err := lake.ReadObject(ctx, s.st, sourceKey(name))
	if err != nil {
		if lake.IsNotExist(err) {
			return nil, fmt.Errorf("source %s: %w", name, errNoSource)
		}
		return nil, fmt.Errorf("read source %s: %w", name, err)
	}
	src, err := ParseSource(b)
	if err != nil {
		return nil, fmt.Errorf("stored source %s: %w", name, err)
	}
	return src, nil
}

var errNoSource = errors.New("no such source (see `cdpctl source list`)")

// IsNoSource reports whether err means the source does not exist.
func IsNoSource(err error) bool { return errors.Is(err, errNoSource) }

// List reads every definition, sorted by name.
func (s *Store) List(ctx context.Context) ([]*Source, error) {
	objs, err := s.st.List(ctx, SourcesPrefix)
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	var out []*Source
	for _, o := range objs {
		name, ok := strings.CutSuffix(strings.TrimPrefix(o.Key, SourcesPrefix), ".yaml")
		if !ok || strings.Contains(name, "/") {
			continue
		}
		src, err := s.Get(ctx, name)
		if err != nil {
			return nil, err
		}
		out = append(out, src)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Remove deletes a definition. Landed data stays in the lake.
func (s *Store) Remove(ctx context.Context, name string) error {
	if _, err := s.st.Stat(ctx, sourceKey(name)); err != nil {
		if lake.IsNotExist(err) {
			return fmt.Errorf("source %s: %w", name, errNoSource)
		}
		return fmt.Errorf("remove source %s: %w", name, err)
	}
	if err := s.st.Delete(ctx, sourceKey(name)); err != nil {
		return fmt.Errorf("remove source %s: %w", name, err)
	}
	return nil
}
