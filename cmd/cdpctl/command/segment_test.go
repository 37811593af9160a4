package command

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tributary-cdp/tributary/internal/config"
)

// runSegmentCLI runs cdpctl with args and returns stdout, stderr and the error.
func runSegmentCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	root := NewRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

func TestSegmentCommands(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfgPath := filepath.Join(data, "tributary.yaml")
	flags := []string{"--data-dir", data, "--config", cfgPath}
	if _, _, err := runSegmentCLI(t, append([]string{"init"}, "--data-dir", data)...); err != nil {
		t.Fatal(err)
	}
	// A segment in the config file, next to the workspaces init wrote.
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, []byte(`segments:
  - id: pro_users
    workspace: default
    description: On the pro plan
    condition: {trait: {name: plan, op: eq, value: pro}}
`)...)
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Segments[0].Condition.Trait.Value; got != "pro" {
		t.Fatalf("config segment value %#v", got)
	}

	good := filepath.Join("..", "..", "..", "testdata", "segments", "high_value_shoppers.yaml")
	out, _, err := runSegmentCLI(t, append([]string{"segment", "validate", "--sql", good}, flags...)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "ok (default/high_value_shoppers)") || !strings.Contains(out, "FROM segment_profiles AS p") {
		t.Fatalf("validate output:\n%s", out)
	}

	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("id: bad\nworkspace: default\ncondition:\n  any:\n    - computed: {name: revenue_total, op: gt, value: lots}\n"), 0o644)
	_, errOut, err := runSegmentCLI(t, append([]string{"segment", "validate", bad}, flags...)...)
	if err == nil || !strings.Contains(errOut, "condition.any[0].computed.value") || !strings.Contains(errOut, `"lots"`) {
		t.Fatalf("validate bad: err %v, stderr %s", err, errOut)
	}

	other := filepath.Join("..", "..", "..", "testdata", "segments", "other_workspace.yaml")
	if _, _, err := runSegmentCLI(t, append([]string{"segment", "add", other}, flags...)...); err == nil || !strings.Contains(err.Error(), "not a configured workspace") {
		t.Fatalf("add to unknown workspace: %v", err)
	}

	out, _, err = runSegmentCLI(t, append([]string{"segment", "add", good}, flags...)...)
	if err != nil {
		t.Fatal(err)
	}
	stored := filepath.Join(data, "segments", "default", "high_value_shoppers.yaml")
	if !strings.Contains(out, stored) {
		t.Fatalf("add output %q does not name %s", out, stored)
	}
	if _, _, err := runSegmentCLI(t, append([]string{"segment", "add", good}, flags...)...); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second add: %v", err)
	}
	if _, _, err := runSegmentCLI(t, append([]string{"segment", "add", "--force", good}, flags...)...); err != nil {
		t.Fatalf("add --force: %v", err)
	}

	dup := filepath.Join(dir, "dup.yaml")
	os.WriteFile(dup, []byte("id: pro_users\nworkspace: default\ncondition: {identifier: {type: email}}\n"), 0o644)
	if _, _, err := runSegmentCLI(t, append([]string{"segment", "add", dup}, flags...)...); err == nil || !strings.Contains(err.Error(), "config file") {
		t.Fatalf("add a config segment's id: %v", err)
	}

	out, _, err = runSegmentCLI(t, append([]string{"segment", "list"}, flags...)...)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "high_value_shoppers") || !strings.Contains(lines[1], "yes") ||
		!strings.Contains(lines[2], "pro_users") || !strings.Contains(lines[2], "config") {
		t.Fatalf("list:\n%s", out)
	}
	out, _, err = runSegmentCLI(t, append([]string{"segment", "list", "--json"}, flags...)...)
	if err != nil || strings.Count(out, "\n") != 2 || !strings.Contains(out, `"min_count":3`) {
		t.Fatalf("list --json: %v\n%s", err, out)
	}

	cfg.DataDir = data
	segs, err := loadSegments(cfg)
	if err != nil || len(segs) != 2 {
		t.Fatalf("loadSegments: %v, %d segments", err, len(segs))
	}

	if _, _, err := runSegmentCLI(t, append([]string{"segment", "remove", "high_value_shoppers"}, flags...)...); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stored); !os.IsNotExist(err) {
		t.Fatalf("stored file still there: %v", err)
	}
}

func TestConfigSegmentErrors(t *testing.T) {
	base := "workspaces:\n  - id: default\n"
	for _, tt := range []struct{ yaml, key string }{
		{"segments:\n  - {id: a, workspace: nowhere, condition: {identifier: {type: email}}}\n", "segments[0].workspace"},
		{"segments:\n  - {id: a, workspace: default, condition: {any: [{trait: {name: x, op: eq}}]}}\n", "segments[0].condition.any[0].trait.value"},
		{"segments:\n  - {id: a, workspace: default, condition: {identifier: {type: email}}}\n  - {id: a, workspace: default, condition: {identifier: {type: phone}}}\n", "segments[1].id"},
	} {
		_, err := config.Parse([]byte(base + tt.yaml))
		fe, ok := err.(*config.FieldError)
		if !ok || fe.Key != tt.key {
			t.Errorf("%s: got %v, want an error on %s", tt.yaml, err, tt.key)
		}
	}
}
