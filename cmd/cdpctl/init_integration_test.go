package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tributary-cdp/tributary/internal/testenv"
)

func TestInitWritesConfigWithHashedAPIKey(t *testing.T) {
	bin := testenv.Cdpctl(t)
	dir := t.TempDir()
	out, err := exec.Command(bin, "init", "--data-dir", dir).Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(out), "\n")
	if lines[0] != "workspace: default" || !regexp.MustCompile(`^write_key: wk_[0-9A-Za-z]{32}$`).MatchString(lines[1]) ||
		!regexp.MustCompile(`^api_key: ak_[0-9A-Za-z]{32}$`).MatchString(lines[2]) {
		t.Fatalf("init output:\n%s", out)
	}
	cfg, err := os.ReadFile(filepath.Join(dir, "tributary.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	apiKey := strings.TrimPrefix(lines[2], "api_key: ")
	if strings.Contains(string(cfg), apiKey) || !strings.Contains(string(cfg), "hash: sha256:") {
		t.Fatalf("config must store the API key hashed only:\n%s", cfg)
	}
	// A second init refuses to overwrite the keys.
	if out, err := exec.Command(bin, "init", "--data-dir", dir).CombinedOutput(); err == nil || !strings.Contains(string(out), "--force") {
		t.Fatalf("second init: %v %s", err, out)
	}
	// Two inits give different keys.
	out2, _ := exec.Command(bin, "init", "--data-dir", t.TempDir()).Output()
	if strings.Split(string(out2), "\n")[1] == lines[1] {
		t.Fatal("write keys are not random")
	}
}

func TestEnvironmentVariablesSetFlags(t *testing.T) {
	bin := testenv.Cdpctl(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "init")
	cmd.Env = append(os.Environ(), "TRIBUTARY_DATA_DIR="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("init with TRIBUTARY_DATA_DIR: %v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "tributary.yaml")); err != nil {
		t.Fatal("TRIBUTARY_DATA_DIR was not used")
	}
}

func TestInvalidConfigNamesTheKey(t *testing.T) {
	bin := testenv.Cdpctl(t)
	tests := []struct {
		yaml string
		want string
	}{
		{"kafka:\n  partitions: 0\n", "kafka.partitions"},
		{"http:\n  addr: nowhere\n", "http.addr"},
		{"lake:\n  url: ftp://x\n", "lake.url"},
		{"workspaces:\n  - id: Bad Id\n", "workspaces[0].id"},
		{"workspaces:\n  - id: w\n    api_keys:\n      - role: boss\n        key: aaaaaaaaaaaaaaaaaaaa\n", "workspaces[0].api_keys[0].role"},
		{"kafkaa: {}\n", "kafkaa"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.yaml")
			os.WriteFile(path, []byte(tt.yaml), 0o644)
			out, err := exec.Command(bin, "serve", "--config", path, "--data-dir", t.TempDir()).CombinedOutput()
			if err == nil || !strings.Contains(string(out), tt.want) {
				t.Fatalf("want an error naming %s, got %v:\n%s", tt.want, err, out)
			}
		})
	}
}

func TestServeStopsGracefullyOnSIGTERM(t *testing.T) {
	in := testenv.Init(t)
	p := in.Serve(t)
	if st, err := post(t, in.URL()+"/v1/track", in.WriteKey, []byte(`{"userId":"u","event":"e"}`), false); err != nil || st != 200 {
		t.Fatalf("track: %d %v", st, err)
	}
	p.Stop(t)
	if !strings.Contains(p.Log.String(), "server stopped") {
		t.Fatalf("no graceful stop in log:\n%s", p.Log.String())
	}
}
