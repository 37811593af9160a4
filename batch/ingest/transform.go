package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/tributary-cdp/tributary/identity"
)

// Value types of output columns.
const (
	typeString    = "string"
	typeDate      = "date"      // canonical text 2006-01-02, stored as DATE
	typeTimestamp = "timestamp" // canonical text RFC 3339 UTC, stored as TIMESTAMP(µs)
)

// step is one compiled transform: it maps a value or says why it cannot.
type step func(string) (string, error)

// pipeline is a field's compiled transforms and the type they produce.
type pipeline struct {
	steps []step
	typ   string
}

func (p pipeline) apply(v string) (string, error) {
	for _, s := range p.steps {
		var err error
		if v, err = s(v); err != nil {
			return "", err
		}
	}
	return v, nil
}

// Transforms lists the transform names and their arguments.
var Transforms = []string{"trim", "lower", "upper", "email_normalize", "phone_e164:<default region>",
	"parse_date:<Go layouts separated by |>", "parse_time:<Go layouts separated by |>", "sha256", "default:<value>"}

// compileTransforms parses "name" or "name:arg" specs. Every transform
// but default leaves an empty value empty.
func compileTransforms(specs []string) (pipeline, error) {
	p := pipeline{typ: typeString}
	for _, spec := range specs {
		name, arg, hasArg := strings.Cut(spec, ":")
		noArg := func() error {
			if hasArg {
				return fmt.Errorf("transform %q takes no argument", name)
			}
			return nil
		}
		var s step
		switch name {
		case "trim":
			if err := noArg(); err != nil {
				return p, err
			}
			s = func(v string) (string, error) { return strings.TrimSpace(v), nil }
		case "lower":
			if err := noArg(); err != nil {
				return p, err
			}
			s = func(v string) (string, error) { return strings.ToLower(v), nil }
		case "upper":
			if err := noArg(); err != nil {
				return p, err
			}
			s = func(v string) (string, error) { return strings.ToUpper(v), nil }
		case "email_normalize":
			if err := noArg(); err != nil {
				return p, err
			}
			s = func(v string) (string, error) {
				if strings.TrimSpace(v) == "" {
					return "", nil
				}
				n := identity.NormalizeEmail(v)
				if n == "" {
					return "", fmt.Errorf("email_normalize: %q is not an email address", clip(v))
				}
				return n, nil
			}
			p.typ = typeString
		case "phone_e164":
			region := strings.ToUpper(strings.TrimSpace(arg))
			if !hasArg || len(region) != 2 {
				return p, fmt.Errorf("transform phone_e164 needs a two-letter default region, e.g. phone_e164:US")
			}
			if !identity.ValidRegion(region) {
				return p, fmt.Errorf("transform phone_e164: region %q is not one libphonenumber supports (e.g. US or GB)", region)
			}
			s = func(v string) (string, error) {
				if strings.TrimSpace(v) == "" {
					return "", nil
				}
				n := identity.NormalizePhone(v, region)
				if n == "" {
					return "", fmt.Errorf("phone_e164: %q is not a phone number (default region %s)", clip(v), region)
				}
				return n, nil
			}
			p.typ = typeString
		case "parse_date", "parse_time":
			layouts := splitLayouts(arg)
			if !hasArg || len(layouts) == 0 {
				return p, fmt.Errorf("transform %s needs Go layouts separated by |, e.g. %s:2006-01-02|01/02/2006", name, name)
			}
			isDate := name == "parse_date"
			s = func(v string) (string, error) {
				v = strings.TrimSpace(v)
				if v == "" {
					return "", nil
				}
				for _, l := range layouts {
					if t, err := time.Parse(l, v); err == nil {
						if isDate {
							return t.Format(time.DateOnly), nil
						}
						return t.UTC().Format(time.RFC3339Nano), nil
					}
				}
				return "", fmt.Errorf("%s: %q matches none of the layouts %s", name, clip(v), strings.Join(layouts, " | "))
			}
			if isDate {
				p.typ = typeDate
			} else {
				p.typ = typeTimestamp
			}
		case "sha256":
			if err := noArg(); err != nil {
				return p, err
			}
			s = func(v string) (string, error) {
				if v == "" {
					return "", nil
				}
				sum := sha256.Sum256([]byte(v))
				return hex.EncodeToString(sum[:]), nil
			}
			p.typ = typeString
		case "default":
			if !hasArg {
				return p, fmt.Errorf("transform default needs a value, e.g. default:unknown")
			}
			s = func(v string) (string, error) {
				if strings.TrimSpace(v) == "" {
					return arg, nil
				}
				return v, nil
			}
		default:
			return p, fmt.Errorf("unknown transform %q (known: %s)", spec, strings.Join(Transforms, ", "))
		}
		p.steps = append(p.steps, s)
	}
	return p, nil
}

func splitLayouts(arg string) []string {
	var out []string
	for l := range strings.SplitSeq(arg, "|") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
