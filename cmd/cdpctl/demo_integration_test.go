package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tributary-cdp/tributary/internal/testenv"
)

// demo --dir of a dir not there yet makes it and keeps its config there,
// which the commands it suggests read (the embedded broker's address).
func TestDemoKeepsItsConfigInANewDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	bin := testenv.Cdpctl(t)
	if out, err := exec.Command(bin, "demo", "--dir", dir, "--customers", "50", "--log-level", "warn").CombinedOutput(); err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "tributary.yaml")); err != nil {
		t.Fatalf("the demo kept no config: %v", err)
	}
}
