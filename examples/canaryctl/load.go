package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/spec"
	"go.yaml.in/yaml/v3"
)

// rolloutFile is a rollout file read from disk, with its YAML tree kept to
// name the line of a bad field.
type rolloutFile struct {
	path string
	root *yaml.Node
	ro   *spec.Rollout
	// signals wires the file's signals section around cfg.Sink (signals.go).
	signals func(cfg *rollback.Config) error
}

// loadRollout reads and validates a rollout file. Every error names the
// file, the line and the field: "rollout.yaml:12: invalid
// plan.stages[1].weight (150): stage 2's weight must be between 1 and 100".
// The file's deprecation warnings (spec.Rollout.Warnings: an old name such
// as plan.steps, still read) go to warn, one line each, prefixed with the
// file's name; they change neither the result nor the exit code.
func loadRollout(path string, warn io.Writer) (*rolloutFile, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("rollout file: %w", err)
	}
	// Read no more than the spec's limit allows, before any parsing.
	b, err := io.ReadAll(io.LimitReader(fh, spec.MaxSize+1))
	fh.Close()
	if err != nil {
		return nil, fmt.Errorf("rollout file: %w", err)
	}
	f, err := parseRollout(path, b)
	if err != nil {
		return nil, err
	}
	for _, w := range f.ro.Warnings() {
		fmt.Fprintf(warn, "%s: warning: %s\n", path, w)
	}
	if err := f.ro.Validate(lookup); err != nil {
		return nil, f.wrap(err)
	}
	return f, nil
}

// parseRollout decodes b strictly without validating it.
func parseRollout(path string, b []byte) (*rolloutFile, error) {
	if len(b) > spec.MaxSize {
		return nil, fmt.Errorf("%s: %w", path, canary.Invalid("rollout", nil, "is larger than %d bytes", spec.MaxSize))
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err == io.EOF { // nothing but blanks and comments
		_, err = spec.DecodeValue(nil)
		return nil, fmt.Errorf("%s: %w", path, err)
	} else if err != nil {
		return nil, fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("%s:%d: a rollout file holds one document; found a second", path, extra.Line)
	}
	f := &rolloutFile{path: path, root: &doc}
	var tree any
	if len(doc.Content) > 0 {
		budget := spec.MaxNodes // values built, each alias counting all it stands for
		var err error
		tree, err = toJSON(doc.Content[0], &budget)
		if err != nil {
			return nil, fmt.Errorf("%s:%w", path, err)
		}
	}
	ro, err := spec.DecodeValue(tree) // a nil tree is the empty file's error
	if err != nil {
		return nil, f.wrap(err)
	}
	f.ro = ro
	return f, nil
}

// wrap prefixes err with the file and the line of the field it names.
func (f *rolloutFile) wrap(err error) error {
	var fe *canary.FieldError
	if errors.As(err, &fe) && len(f.root.Content) > 0 {
		if n := lineOf(f.root.Content[0], fe.Field); n > 0 {
			return fmt.Errorf("%s:%d: %w", f.path, n, err)
		}
	}
	return fmt.Errorf("%s: %w", f.path, err)
}

var segment = regexp.MustCompile(`([^.\[\]]+)|\[(\d+)\]`)

// lineOf returns the line of the deepest node along path ("a.b[2].c") that
// exists in the tree: the key's line for a mapping entry.
func lineOf(n *yaml.Node, path string) int {
	line := n.Line
	for _, m := range segment.FindAllStringSubmatch(path, -1) {
		switch {
		case m[1] != "" && n.Kind == yaml.MappingNode:
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == m[1] {
					line, n, found = n.Content[i].Line, n.Content[i+1], true
					break
				}
			}
			if !found {
				return line
			}
		case m[2] != "" && n.Kind == yaml.SequenceNode:
			i, _ := strconv.Atoi(m[2])
			if i >= len(n.Content) {
				return line
			}
			n = n.Content[i]
			line = n.Line
		default:
			return line
		}
	}
	return line
}

// toJSON turns a YAML node into the values spec.DecodeValue reads, keeping
// the YAML types (an unquoted 10 is a number, "10" a string). Each value it
// builds, an alias's included every time, costs one of *budget; it stops
// when the budget is spent, so an alias bomb costs at most spec.MaxNodes
// values.
func toJSON(n *yaml.Node, budget *int) (any, error) {
	if *budget--; *budget < 0 {
		return nil, fmt.Errorf("%d: the rollout holds more than %d values (aliases count every value they repeat)", n.Line, spec.MaxNodes)
	}
	switch n.Kind {
	case yaml.AliasNode:
		return toJSON(n.Alias, budget)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("%d: a mapping key must be a plain name", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("%d: %s is given twice", k.Line, k.Value)
			}
			v, err := toJSON(n.Content[i+1], budget)
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := toJSON(c, budget)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return nil, fmt.Errorf("%d: %v", n.Line, err)
			}
			return b, nil
		case "!!int":
			var i int64
			if err := n.Decode(&i); err != nil {
				return nil, fmt.Errorf("%d: %v", n.Line, err)
			}
			return json.Number(strconv.FormatInt(i, 10)), nil
		case "!!float":
			var x float64
			if err := n.Decode(&x); err != nil {
				return nil, fmt.Errorf("%d: %v", n.Line, err)
			}
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return x, nil // spec.DecodeValue refuses it, naming the field
			}
			return json.Number(strconv.FormatFloat(x, 'g', -1, 64)), nil
		}
		return n.Value, nil
	}
	return nil, fmt.Errorf("%d: unsupported YAML node", n.Line)
}

// rolloutYAML writes ro as a YAML rollout file.
func rolloutYAML(ro *spec.Rollout) ([]byte, error) {
	js, err := json.Marshal(ro)
	if err != nil {
		return nil, err
	}
	var n yaml.Node
	if err := yaml.Unmarshal(js, &n); err != nil { // JSON is YAML
		return nil, err
	}
	setBlock(&n)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// setBlock makes every mapping and list use block style and drops the
// quotes JSON put on plain strings.
func setBlock(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		setBlock(c)
	}
}
