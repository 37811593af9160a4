package config

import "fmt"

// Curate configures golden profiles: which source's value of an attribute
// survives when sources disagree.
type Curate struct {
	// DefaultRule applies to attributes without a rule of their own.
	DefaultRule string `yaml:"default_rule"`
	// Survivorship lists per-attribute rules.
	Survivorship []SurvivorshipRule `yaml:"survivorship,omitempty"`
}

// SurvivorshipRule picks the winning value of one attribute.
type SurvivorshipRule struct {
	Attribute string `yaml:"attribute"`
	// Rule is most_recent, first_non_empty, most_frequent or source_priority.
	Rule string `yaml:"rule"`
	// Priority lists source names best first (source_priority); "events"
	// stands for identify traits from the web and apps.
	Priority []string `yaml:"priority,omitempty"`
}

// DefaultCurate keeps the most recent value of every attribute.
func DefaultCurate() Curate { return Curate{DefaultRule: "most_recent"} }

var survivorshipRules = map[string]bool{"most_recent": true, "first_non_empty": true, "most_frequent": true, "source_priority": true}

func (c Curate) validate() error {
	if !survivorshipRules[c.DefaultRule] || c.DefaultRule == "source_priority" {
		return &FieldError{"curate.default_rule", fmt.Sprintf("%q must be most_recent, first_non_empty or most_frequent", c.DefaultRule)}
	}
	seen := map[string]bool{}
	for i, r := range c.Survivorship {
		key := fmt.Sprintf("curate.survivorship[%d]", i)
		switch {
		case r.Attribute == "":
			return &FieldError{key + ".attribute", "must not be empty"}
		case seen[r.Attribute]:
			return &FieldError{key + ".attribute", fmt.Sprintf("%q has another rule", r.Attribute)}
		case !survivorshipRules[r.Rule]:
			return &FieldError{key + ".rule", fmt.Sprintf("%q must be most_recent, first_non_empty, most_frequent or source_priority", r.Rule)}
		case r.Rule == "source_priority" && len(r.Priority) == 0:
			return &FieldError{key + ".priority", "source_priority needs the list of sources, best first"}
		}
		seen[r.Attribute] = true
	}
	return nil
}
