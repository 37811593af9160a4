package config

import (
	"strings"
	"testing"

	"github.com/tributary-cdp/tributary/identity/match"
)

func TestIdentityModelOverridesOnlyWhatItNames(t *testing.T) {
	c, err := Parse([]byte("identity:\n  model:\n    threshold: 0.97\n"))
	if err != nil {
		t.Fatal(err)
	}
	def := match.DefaultConfig()
	if c.Identity.Model == nil || c.Identity.Model.Threshold != 0.97 || len(c.Identity.Model.BlockingRules) != len(def.BlockingRules) || c.Identity.Model.JWHigh != def.JWHigh {
		t.Fatalf("model: %+v", c.Identity.Model)
	}
	if _, err := Parse([]byte("identity:\n  model:\n    blocking_rules: []\n")); err == nil || !strings.Contains(err.Error(), "identity.model") {
		t.Fatalf("want an error naming identity.model, got %v", err)
	}
}
