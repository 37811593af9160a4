package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tributary-cdp/tributary/internal/testenv"
)

// demo --dir of a dir not there yet makes it and keeps its config there,
// which the commands it suggests read (the embedded broker's address);
// its story has every step at any size.
func TestDemoKeepsItsConfigInANewDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	bin := testenv.Cdpctl(t)
	out, err := exec.Command(bin, "demo", "--dir", dir, "--customers", "1000", "--log-level", "warn").CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	// At 1000 customers the first with two devices and orders is one of
	// the 10% the CRM lacks: the demo picks one it has.
	if !strings.Contains(string(out), "\n7. GET /v1/profiles/customer_id:") {
		t.Errorf("the demo shows no merged profile:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "tributary.yaml")); err != nil {
		t.Fatalf("the demo kept no config: %v", err)
	}
}
