package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// yamlProblem is one of the messages of a yaml.TypeError, as yaml.v3
// words them (decode.go).
var yamlProblem = regexp.MustCompile("^line (\\d+): (?:" +
	"field (.+) not found in type .+|" +
	"mapping key \"(.*)\" already defined at line (\\d+)|" +
	"cannot unmarshal (\\S+)(?: `(.*)`)? into (.+))$")

// keyedError rewrites the decoding errors of b as FieldErrors naming the
// key at fault, as Validate's do: yaml.v3 says the line and the Go type
// ("field recent_event not found in type config.Speed"). A message whose
// key is not clear (two alike on its line) stays as yaml words it.
func keyedError(b []byte, err error) error {
	var te *yaml.TypeError
	var doc yaml.Node
	if !errors.As(err, &te) || yaml.Unmarshal(b, &doc) != nil {
		return fmt.Errorf("parse config: %w", err)
	}
	var places []yamlPlace
	index(&doc, "", &places)
	errs := make([]error, len(te.Errors))
	for i, msg := range te.Errors {
		errs[i] = keyedProblem(msg, places)
	}
	return errors.Join(errs...)
}

// yamlPlace is a value of the document with its path as FieldError
// writes it (workspaces[0].api_keys[1].role), and its key and the key's
// line when it is a mapping's.
type yamlPlace struct {
	path, key string
	keyLine   int
	node      *yaml.Node
}

// index appends the places of n and of everything under it.
func index(n *yaml.Node, path string, places *[]yamlPlace) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			index(c, path, places)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			*places = append(*places, yamlPlace{path: p, key: k.Value, keyLine: k.Line, node: v})
			index(v, p, places)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			*places = append(*places, yamlPlace{path: p, node: c})
			index(c, p, places)
		}
	}
}

func keyedProblem(msg string, places []yamlPlace) error {
	m := yamlProblem.FindStringSubmatch(msg)
	if m == nil {
		return errors.New(msg)
	}
	line, _ := strconv.Atoi(m[1])
	// one is the only place that matches, else nil.
	one := func(match func(yamlPlace) bool) *yamlPlace {
		var found *yamlPlace
		for i, p := range places {
			if match(p) {
				if found != nil {
					return nil
				}
				found = &places[i]
			}
		}
		return found
	}
	switch {
	case m[2] != "":
		if p := one(func(p yamlPlace) bool { return p.keyLine == line && p.key == m[2] }); p != nil {
			return &FieldError{p.path, fmt.Sprintf("is not a key of the config (line %d)", line)}
		}
	case m[4] != "":
		if p := one(func(p yamlPlace) bool { return p.keyLine == line && p.key == m[3] }); p != nil {
			return &FieldError{p.path, fmt.Sprintf("is given twice, at lines %s and %d", m[4], line)}
		}
	default:
		if p := one(func(p yamlPlace) bool {
			return p.node.Line == line && p.node.ShortTag() == m[5] && (m[6] == "" || m[6] == shortValue(p.node.Value))
		}); p != nil {
			return &FieldError{p.path, fmt.Sprintf("%s is not %s (line %d)", what(p.node), want(m[7]), line)}
		}
	}
	return errors.New(msg)
}

// shortValue is a scalar as yaml.v3 quotes it in an error: cut to 7 bytes
// and "..." past 10.
func shortValue(v string) string {
	if len(v) > 10 {
		return v[:7] + "..."
	}
	return v
}

// what names a value in an error.
func what(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

// want names the Go type a value had to decode into.
func want(goType string) string {
	switch {
	case goType == "time.Duration":
		return "a duration such as 30s, 10m or 24h"
	case goType == "bool":
		return "true or false"
	case goType == "string", goType == "cdp.Role":
		return "a string"
	case strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "config."):
		return "a mapping" // every type of this package a key holds is a struct
	}
	return "a " + goType
}
