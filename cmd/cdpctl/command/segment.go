package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/batch/ingest"
	"github.com/tributary-cdp/tributary/internal/config"
	"github.com/tributary-cdp/tributary/internal/plural"
	"github.com/tributary-cdp/tributary/sql"
)

// Segments come from two places, both in force at once:
//   - the config file's `segments:` list (edited by hand, reviewed with the config);
//   - files stored by `cdpctl segment add` as <data-dir>/segments/<workspace>/<id>.yaml,
//     kept verbatim (comments included).
//
// A (workspace, id) may be defined only once across both.

// maxSegmentFile bounds a segment definition file.
const maxSegmentFile = 1 << 20

func newSegmentCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "segment",
		Short: "Define, list and check segments",
		Long: "Segments are condition trees over profiles (traits, computed traits, identifiers,\n" +
			"events in a time window, all/any/not), evaluated in real time by the speed layer and\n" +
			"in DuckDB SQL by the curate job. They live in the config under `segments:` and, when\n" +
			"added with `cdpctl segment add`, in <data-dir>/segments/<workspace>/<id>.yaml; a running\n" +
			"serve picks changes to either up within about 2 s.",
	}
	cmd.AddCommand(newSegmentAddCmd(g), newSegmentListCmd(g), newSegmentValidateCmd(g), newSegmentRemoveCmd(g))
	return cmd
}

type segmentAddOptions struct {
	force bool
}

func newSegmentAddCmd(g *globalOptions) *cobra.Command {
	o := &segmentAddOptions{}
	cmd := &cobra.Command{
		Use:   "add FILE",
		Short: "Validate a segment file and store it in <data-dir>/segments/<workspace>/<id>.yaml",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, g, args[0])
		},
	}
	cmd.Flags().BoolVar(&o.force, "force", false, "replace a stored segment with the same workspace and id")
	return cmd
}

func (o *segmentAddOptions) run(cmd *cobra.Command, g *globalOptions, path string) error {
	cfg, err := g.load(cmd)
	if err != nil {
		return err
	}
	b, seg, err := readSegmentFile(path)
	if err != nil {
		return err
	}
	if err := checkSegmentWorkspace(cfg, seg); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, s := range cfg.Segments {
		if s.Workspace == seg.Workspace && s.ID == seg.ID {
			return fmt.Errorf("%s: segment %s/%s is defined in the config file; edit it there", path, seg.Workspace, seg.ID)
		}
	}
	dst := segmentPath(cfg, seg.Workspace, seg.ID)
	if _, err := os.Stat(dst); err == nil && !o.force {
		return fmt.Errorf("segment %s/%s exists (%s); use --force to replace it", seg.Workspace, seg.ID, dst)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := writeSegmentFile(dst, b); err != nil {
		return fmt.Errorf("store segment: %w", err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "segment %s/%s stored in %s\n", seg.Workspace, seg.ID, dst)
	unknown, err := unknownIdentifierTypes(cmd.Context(), cfg, seg)
	if err != nil {
		return err
	}
	for _, typ := range unknown {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: identifier type %q is not a built-in one (user_id, anonymous_id, email, phone), an identifier trait of the config, or an identifier of a source of workspace %s: no profile has it until one declares it (a typo?)\n", typ, seg.Workspace)
	}
	return nil
}

// unknownIdentifierTypes lists the identifier types seg's conditions ask
// for that nothing gives a profile: a built-in type, the config's
// identifier traits, the identifier fields of the workspace's sources. A
// source may come later, so it is a warning, not an error.
func unknownIdentifierTypes(ctx context.Context, cfg config.Config, seg *cdp.Segment) ([]string, error) {
	known := map[string]bool{cdp.IDUserID: true, cdp.IDAnonymousID: true, cdp.IDEmail: true, cdp.IDPhone: true}
	for _, typ := range cfg.Speed.IdentifierTraits {
		known[typ] = true
	}
	asked := slices.DeleteFunc(seg.IdentifierTypes(), func(typ string) bool { return known[typ] })
	if len(asked) == 0 {
		return nil, nil
	}
	env, err := openJobEnv(ctx, cfg, cfg.Brokers())
	if err != nil {
		return nil, err
	}
	srcs, err := ingest.NewStore(env.lake).List(ctx)
	if err != nil {
		return nil, err
	}
	for _, src := range srcs {
		if src.Workspace == seg.Workspace {
			for _, typ := range src.Identifiers() {
				known[typ] = true
			}
		}
	}
	return slices.DeleteFunc(asked, func(typ string) bool { return known[typ] }), nil
}

type segmentListOptions struct {
	workspace string
	json      bool
}

func newSegmentListCmd(g *globalOptions) *cobra.Command {
	o := &segmentListOptions{}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the segments of the config and of <data-dir>/segments",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd, g)
		},
	}
	cmd.Flags().StringVar(&o.workspace, "workspace", "", "only this workspace")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the definitions as JSON lines")
	return cmd
}

func (o *segmentListOptions) run(cmd *cobra.Command, g *globalOptions) error {
	cfg, err := g.load(cmd)
	if err != nil {
		return err
	}
	if o.workspace != "" {
		if err := checkWorkspace(cfg, o.workspace); err != nil {
			return fmt.Errorf("--workspace: %w", err)
		}
	}
	segs, err := loadSegmentSources(cfg)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if o.json {
		enc := json.NewEncoder(out)
		for _, s := range segs {
			if o.workspace == "" || s.seg.Workspace == o.workspace {
				if err := enc.Encode(s.seg); err != nil {
					return err
				}
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKSPACE\tID\tSOURCE\tTIME-SENSITIVE\tDESCRIPTION")
	for _, s := range segs {
		if o.workspace != "" && s.seg.Workspace != o.workspace {
			continue
		}
		ts := "no"
		if s.seg.TimeSensitive() {
			ts = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.seg.Workspace, s.seg.ID, s.source, ts, segmentOneLine(s.seg.Description))
	}
	return tw.Flush()
}

type segmentValidateOptions struct {
	sql bool
}

func newSegmentValidateCmd(g *globalOptions) *cobra.Command {
	o := &segmentValidateOptions{}
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check segment files without storing them",
		Long: "validate parses each file, checks every condition and, when a config is found,\n" +
			"that the segment's workspace is configured. Errors name the node, e.g.\n" +
			"condition.any[1].computed.value. --sql prints the DuckDB SQL the batch layer runs.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, g, args)
		},
	}
	cmd.Flags().BoolVar(&o.sql, "sql", false, "print the compiled DuckDB SQL and its parameters")
	return cmd
}

func (o *segmentValidateOptions) run(cmd *cobra.Command, g *globalOptions, paths []string) error {
	cfg, cfgErr := g.load(cmd)
	out := cmd.OutOrStdout()
	var failed int
	for _, path := range paths {
		_, seg, err := readSegmentFile(path)
		if err == nil && cfgErr == nil {
			if werr := checkSegmentWorkspace(cfg, seg); werr != nil {
				err = fmt.Errorf("%s: %w", path, werr)
			}
		}
		if err != nil {
			failed++
			fmt.Fprintf(cmd.ErrOrStderr(), "%v\n", err)
			continue
		}
		fmt.Fprintf(out, "%s: ok (%s/%s)\n", path, seg.Workspace, seg.ID)
		if o.sql {
			q, err := sql.CompileSegment(seg, time.Now().UTC())
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%s;\n", q.SQL)
			for i, a := range q.Args {
				fmt.Fprintf(out, "-- $%d = %#v\n", i+1, a)
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %s invalid", failed, plural.Count(len(paths), "segment file"))
	}
	return nil
}

type segmentRemoveOptions struct {
	workspace string
}

func newSegmentRemoveCmd(g *globalOptions) *cobra.Command {
	o := &segmentRemoveOptions{}
	cmd := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a segment stored by `segment add`",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.load(cmd)
			if err != nil {
				return err
			}
			path := segmentPath(cfg, o.workspace, args[0])
			if err := os.Remove(path); errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("no stored segment %s/%s (segments in the config file are removed there)", o.workspace, args[0])
			} else if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "segment %s/%s removed\n", o.workspace, args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&o.workspace, "workspace", "default", "workspace of the segment")
	return cmd
}

// readSegmentFile reads and parses one segment definition.
func readSegmentFile(path string) ([]byte, *cdp.Segment, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read segment: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSegmentFile+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read segment %s: %w", path, err)
	}
	if len(b) > maxSegmentFile {
		return nil, nil, fmt.Errorf("%s: larger than %d bytes", path, maxSegmentFile)
	}
	seg, err := cdp.ParseSegment(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, seg, nil
}

func checkSegmentWorkspace(cfg config.Config, seg *cdp.Segment) error {
	if err := checkWorkspace(cfg, seg.Workspace); err != nil {
		return fmt.Errorf("workspace: %w", err)
	}
	return nil
}

// checkWorkspace says when id is not a workspace of the config, which
// would otherwise match nothing without a word.
func checkWorkspace(cfg config.Config, id string) error {
	ids := make([]string, len(cfg.Workspaces))
	for i, w := range cfg.Workspaces {
		if w.ID == id {
			return nil
		}
		ids[i] = w.ID
	}
	return fmt.Errorf("%q is not a configured workspace (the config has %s; run `cdpctl init` or add it to the config)", id, strings.Join(ids, ", "))
}

// segmentDir is where `segment add` stores definitions.
func segmentDir(cfg config.Config) string { return filepath.Join(cfg.DataDir, "segments") }

func segmentPath(cfg config.Config, workspace, id string) string {
	return filepath.Join(segmentDir(cfg), filepath.Base(workspace), filepath.Base(id)+".yaml")
}

type segmentSource struct {
	seg    *cdp.Segment
	source string // "config" or the stored file's path
}

// loadSegments returns every segment in force: the config's and the stored
// ones, sorted by workspace and id. serve and the batch jobs use it.
func loadSegments(cfg config.Config) ([]*cdp.Segment, error) {
	srcs, err := loadSegmentSources(cfg)
	if err != nil {
		return nil, err
	}
	segs := make([]*cdp.Segment, len(srcs))
	for i, s := range srcs {
		segs[i] = s.seg
	}
	return segs, nil
}

func loadSegmentSources(cfg config.Config) ([]segmentSource, error) {
	var out []segmentSource
	seen := map[string]string{}
	for i := range cfg.Segments {
		s := &cfg.Segments[i]
		seen[s.Workspace+"/"+s.ID] = "the config file"
		out = append(out, segmentSource{seg: s, source: "config"})
	}
	paths, err := filepath.Glob(filepath.Join(segmentDir(cfg), "*", "*.yaml"))
	if err != nil {
		return nil, err
	}
	for _, path := range paths {
		_, seg, err := readSegmentFile(path)
		if err != nil {
			return nil, err
		}
		if want := filepath.Base(filepath.Dir(path)) + "/" + strings.TrimSuffix(filepath.Base(path), ".yaml"); seg.Workspace+"/"+seg.ID != want {
			return nil, fmt.Errorf("%s: defines segment %s/%s; the file must be named <data-dir>/segments/%s/%s.yaml", path, seg.Workspace, seg.ID, seg.Workspace, seg.ID)
		}
		if err := checkSegmentWorkspace(cfg, seg); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		key := seg.Workspace + "/" + seg.ID
		if other, dup := seen[key]; dup {
			return nil, fmt.Errorf("%s: segment %s is also defined in %s", path, key, other)
		}
		seen[key] = path
		out = append(out, segmentSource{seg: seg, source: path})
	}
	slices.SortFunc(out, func(a, b segmentSource) int {
		return strings.Compare(a.seg.Workspace+"\x00"+a.seg.ID, b.seg.Workspace+"\x00"+b.seg.ID)
	})
	return out, nil
}

// writeSegmentFile writes b to path through a temporary file and a rename.
func writeSegmentFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".segment-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func segmentOneLine(s string) string {
	r := []rune(strings.Join(strings.Fields(s), " "))
	if len(r) > 60 {
		return string(r[:57]) + "..."
	}
	return string(r)
}
