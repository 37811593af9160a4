// Package yamlx words the decoding errors of gopkg.in/yaml.v3 for the
// people who write the files: by the key at fault, as the validation
// errors that follow decoding do, where yaml says a line and a Go type
// ("line 30: field recent_event not found in type config.Speed").
package yamlx

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Problem is one thing a document got wrong: Key is the path of the key
// at fault (workspaces[0].api_keys[1].role), "" when it is not clear which
// (two values alike on a line), and then Problem is yaml's own message.
type Problem struct {
	Key, Problem string
}

// Problems splits err, what decoding doc into v returned, into a Problem a
// message; ok is false when err is not a yaml.TypeError (a syntax error,
// which yaml words well enough). Only err itself counts: a TypeError an
// UnmarshalYAML wrapped may count the lines of another document.
func Problems(doc []byte, v any, err error) (ps []Problem, ok bool) {
	te, ok := err.(*yaml.TypeError)
	var root yaml.Node
	if !ok || yaml.Unmarshal(doc, &root) != nil {
		return nil, false
	}
	var places []place
	index(&root, "", nil, &places)
	t := reflect.TypeOf(v)
	ps = make([]Problem, len(te.Errors))
	for i, msg := range te.Errors {
		ps[i] = problem(msg, t, places)
	}
	return ps, true
}

// yamlMessage is a message of a yaml.TypeError, as yaml.v3 words them
// (decode.go).
var yamlMessage = regexp.MustCompile("^line (\\d+): (?:" +
	"field (.+) not found in type .+|" +
	"mapping key \"(.*)\" already defined at line (\\d+)|" +
	"cannot unmarshal (\\S+)(?: `(.*)`)? into (.+))$")

// place is a value of the document with its path, and its key and the
// key's line when it is a mapping's.
type place struct {
	path    string
	steps   []string // the path's keys; "" for a list's item
	key     string
	keyLine int
	node    *yaml.Node
}

// index appends the places of n and of everything under it.
func index(n *yaml.Node, path string, steps []string, places *[]place) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			index(c, path, steps, places)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			s := append(steps[:len(steps):len(steps)], k.Value)
			*places = append(*places, place{path: p, steps: s, key: k.Value, keyLine: k.Line, node: v})
			index(v, p, s, places)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			s := append(steps[:len(steps):len(steps)], "")
			*places = append(*places, place{path: p, steps: s, node: c})
			index(c, p, s, places)
		}
	}
}

func problem(msg string, t reflect.Type, places []place) Problem {
	m := yamlMessage.FindStringSubmatch(msg)
	if m == nil {
		return Problem{Problem: msg}
	}
	line, _ := strconv.Atoi(m[1])
	// one is the only place that matches, else nil.
	one := func(match func(place) bool) *place {
		var found *place
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
		if p := one(func(p place) bool { return p.keyLine == line && p.key == m[2] }); p != nil {
			return Problem{p.path, fmt.Sprintf("is not a known key (line %d)", line)}
		}
	case m[4] != "":
		if p := one(func(p place) bool { return p.keyLine == line && p.key == m[3] }); p != nil {
			return Problem{p.path, fmt.Sprintf("is given twice, at lines %s and %d", m[4], line)}
		}
	default:
		// The value on the line, of the tag, value and Go type yaml names
		// (a list's first item and the list start on one line).
		if p := one(func(p place) bool {
			if p.node.Line != line || p.node.ShortTag() != m[5] || m[6] != "" && m[6] != shortValue(p.node.Value) {
				return false
			}
			gt := typeAt(t, p.steps)
			return gt == nil || gt.String() == m[7]
		}); p != nil {
			if want := wanted(typeAt(t, p.steps)); want != "" {
				return Problem{p.path, fmt.Sprintf("%s is not %s (line %d)", what(p.node), want, line)}
			}
		}
	}
	return Problem{Problem: msg}
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

// typeAt is the Go type the value at steps decodes into, as yaml.v3 maps
// keys to fields (the yaml tag, else the lower-cased name; inline structs
// searched); nil when it cannot tell.
func typeAt(t reflect.Type, steps []string) reflect.Type {
	for _, s := range steps {
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t == nil {
			return nil
		}
		switch t.Kind() {
		case reflect.Map, reflect.Slice, reflect.Array:
			t = t.Elem()
		case reflect.Struct:
			t = field(t, s)
		default:
			return nil
		}
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// field is the type of struct t's field that key decodes into, or nil.
func field(t reflect.Type, key string) reflect.Type {
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if slices.Contains(strings.Split(opts, ","), "inline") {
			if ft := field(f.Type, key); ft != nil {
				return ft
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if name == key {
			return f.Type
		}
	}
	return nil
}

// wanted names what a value of Go type t is written as; "" when unknown.
func wanted(t reflect.Type) string {
	if t == nil {
		return ""
	}
	if t == reflect.TypeFor[time.Duration]() {
		return "a duration such as 30s, 10m or 24h"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return ""
}
