package config

import (
	"gopkg.in/yaml.v3"

	"github.com/tributary-cdp/tributary/identity/match"
)

// IdentityModel is the Fellegi–Sunter model of the resolve job (blocking
// rules, comparison thresholds, EM, term frequencies, veto, threshold).
// Keys left out keep their defaults, so a config states only what it
// changes:
//
//	identity:
//	  model:
//	    threshold: 0.99
//	    blocking_rules: [[last_name, dob], [email], [phone]]
type IdentityModel struct {
	match.Config `yaml:",inline"`
}

// UnmarshalYAML decodes over match.DefaultConfig.
func (m *IdentityModel) UnmarshalYAML(n *yaml.Node) error {
	m.Config = match.DefaultConfig()
	return n.Decode(&m.Config)
}
