package command

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The eval contract: with --json the last line is one object with the
// listed keys; a generated file evaluates against its own truth column.
func TestIdentityEvalContract(t *testing.T) {
	dir := t.TempDir()
	people := filepath.Join(dir, "people.csv")
	run := func(args ...string) string {
		t.Helper()
		root := NewRoot()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append([]string{"--data-dir", dir}, args...))
		if err := root.Execute(); err != nil {
			t.Fatalf("cdpctl %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	run("gen", "people", "--records", "2000", "--seed", "3", "--out", people)
	if b, err := os.ReadFile(people); err != nil || !strings.HasPrefix(string(b), "record_id,first_name,last_name,dob,email,phone,street,city,postcode,person_id\n") {
		t.Fatalf("gen people wrote %v, %.80q", err, b)
	}
	out := run("identity", "eval", "--input", people, "--truth", "person_id", "--json",
		"--map", "first_name=first_name,last_name=last_name,dob=dob,email=email,phone=phone,street=street,city=city,postcode=postcode,record_id=ignore")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var rep map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		t.Fatalf("last line is not JSON: %v\n%s", err, out)
	}
	for _, k := range []string{"records", "true_pairs", "predicted_pairs", "true_positive_pairs", "precision", "recall", "f1", "blocking_recall", "seconds", "peak_rss_mb"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("JSON report lacks %q: %s", k, lines[len(lines)-1])
		}
	}
	if rep["records"].(float64) != 2000 || rep["recall"].(float64) < 0.9 {
		t.Errorf("report: %s", lines[len(lines)-1])
	}
	// The truth column may not be fed to the resolver.
	root := NewRoot()
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	root.SetArgs([]string{"identity", "eval", "--input", people, "--truth", "person_id", "--map", "person_id=national_id"})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "truth column") {
		t.Errorf("mapping the truth column: err = %v", err)
	}
}
