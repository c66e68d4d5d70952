package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/meshcanary/canary"
)

// Bounds of a rollout document. MaxSize applies to the bytes before any
// parsing; MaxNodes and MaxDepth to the values while they are read (an
// alias in a YAML file counts every value it stands for), so no document
// costs more than a bounded amount of time and memory to refuse.
const (
	// MaxSize is the largest rollout document Decode reads: 1 MiB.
	MaxSize = 1 << 20
	// MaxNodes is the most values (mappings, lists and scalars) a rollout
	// may hold; real rollouts hold a few hundred.
	MaxNodes = 20000
	// MaxDepth is the deepest a value may be nested (the rollout itself
	// is depth 1); the deepest field a rollout has is at depth 7.
	MaxDepth = 32
)

// Shortest and longest duration a rollout file may give: the plan's clock
// runs in seconds (an interval, a hold, a deadline or a window under a
// second is a unit mistake, "1ns" for "1m"), and nothing in a rollout
// sensibly waits a year.
const (
	minDuration = time.Second
	maxDuration = 366 * 24 * time.Hour
)

// Decode reads one rollout from JSON strictly. An unknown field, a key
// given twice, a value of the wrong type, a duration that does not parse
// or is implausible (under a second, over a year), a number that is not
// finite, an empty document, one beyond MaxSize, MaxNodes or MaxDepth, or
// data after the object is a *[canary.FieldError] whose Field is the path
// as written in the file ("plan.stages[2].weight"). Deprecated keys are
// read and reported by [Rollout.Warnings]. Decode does not validate; call
// Validate.
func Decode(r io.Reader) (*Rollout, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSize {
		return nil, canary.Invalid("rollout", nil, "is larger than %d bytes", MaxSize)
	}
	tree, err := parseJSON(b)
	if err != nil {
		return nil, err
	}
	return decodeTree(tree)
}

// DecodeValue is Decode for a rollout another format has already read (a
// YAML file, say): v is made of the values encoding/json decodes into an
// any with UseNumber (map[string]any, []any, string, bool, json.Number,
// nil), and float64 for a number that cannot be written in JSON (NaN and
// the infinities, which are refused naming their field). The caller bounds
// the bytes it parses by MaxSize and the values it builds by MaxNodes
// (counting every value an alias stands for); DecodeValue checks MaxNodes
// and MaxDepth again. A nil v is an empty document. DecodeValue renames
// deprecated keys in v (it is the caller's decoded copy, not kept).
func DecodeValue(v any) (*Rollout, error) {
	if v == nil {
		return nil, errEmpty
	}
	nodes := 0
	if err := bound(v, "", 1, &nodes); err != nil {
		return nil, err
	}
	return decodeTree(v)
}

var errEmpty = canary.Invalid("rollout", nil, "is empty; a rollout needs at least name, router and plan")

func decodeTree(tree any) (*Rollout, error) {
	w := &walker{}
	if err := w.check(tree, reflect.TypeFor[Rollout](), ""); err != nil {
		return nil, err
	}
	b, err := json.Marshal(tree) // the checked tree, deprecated keys renamed
	if err != nil {
		return nil, canary.Invalid("rollout", nil, "%v", err)
	}
	var ro Rollout
	strict := json.NewDecoder(bytes.NewReader(b))
	strict.DisallowUnknownFields()
	if err := strict.Decode(&ro); err != nil { // unreachable after check, kept as a guard
		return nil, canary.Invalid("rollout", nil, "%v", err)
	}
	ro.warnings = w.warnings
	return &ro, nil
}

// parseJSON reads b into a tree of map[string]any, []any and scalars
// (numbers as json.Number), refusing a key given twice in one mapping and
// a document beyond MaxNodes or MaxDepth, naming where.
func parseJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	nodes := 0
	var value func(path string, depth int) (any, error)
	value = func(path string, depth int) (any, error) {
		tok, err := dec.Token()
		if err != nil {
			if err == io.EOF && path == "" {
				return nil, errEmpty
			}
			return nil, canary.Invalid("rollout", nil, "is not a JSON document: %v", noEOF(err))
		}
		if err := counted(path, depth, &nodes); err != nil {
			return nil, err
		}
		switch tok {
		case json.Delim('{'):
			m := map[string]any{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, canary.Invalid("rollout", nil, "is not a JSON document: %v", noEOF(err))
				}
				k := kt.(string) // the decoder only hands out string keys
				sub := join(path, k)
				if _, dup := m[k]; dup {
					return nil, canary.Invalid(sub, nil, "is given twice; give each key once")
				}
				v, err := value(sub, depth+1)
				if err != nil {
					return nil, err
				}
				m[k] = v
			}
			if _, err := dec.Token(); err != nil { // '}'
				return nil, canary.Invalid("rollout", nil, "is not a JSON document: %v", noEOF(err))
			}
			return m, nil
		case json.Delim('['):
			l := []any{}
			for i := 0; dec.More(); i++ {
				v, err := value(fmt.Sprintf("%s[%d]", path, i), depth+1)
				if err != nil {
					return nil, err
				}
				l = append(l, v)
			}
			if _, err := dec.Token(); err != nil { // ']'
				return nil, canary.Invalid("rollout", nil, "is not a JSON document: %v", noEOF(err))
			}
			return l, nil
		}
		return tok, nil
	}
	tree, err := value("", 1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, canary.Invalid("rollout", nil, "has data after the rollout object")
	}
	return tree, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// counted counts one more value at path and depth against the bounds.
func counted(path string, depth int, nodes *int) error {
	name := path
	if name == "" {
		name = "rollout"
	}
	*nodes++
	switch {
	case depth > MaxDepth:
		return canary.Invalid(name, nil, "is nested deeper than %d levels", MaxDepth)
	case *nodes > MaxNodes:
		return canary.Invalid(name, nil, "is past the most values a rollout may hold (%d)", MaxNodes)
	}
	return nil
}

// bound walks v counting its values against MaxNodes and MaxDepth.
func bound(v any, path string, depth int, nodes *int) error {
	if err := counted(path, depth, nodes); err != nil {
		return err
	}
	switch c := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(c) {
			if err := bound(c[k], join(path, k), depth+1, nodes); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range c {
			if err := bound(e, fmt.Sprintf("%s[%d]", path, i), depth+1, nodes); err != nil {
				return err
			}
		}
	}
	return nil
}

// deprecated maps, per struct type, a file key still read to the key that
// replaced it.
var deprecated = map[reflect.Type]map[string]string{
	reflect.TypeFor[Plan]():   {"steps": "stages", "stepWeight": "stageWeight"},
	reflect.TypeFor[Policy](): {"passesPerStep": "passesPerStage"},
	// an Istio destination's pod label value is not a version (issue 23)
	reflect.TypeFor[Destination](): {"version": "labelValue"},
}

// walker checks a decoded tree and collects the warnings it gives.
type walker struct{ warnings []string }

var (
	durationType = reflect.TypeFor[Duration]()
	stageType    = reflect.TypeFor[Stage]()
)

// check walks the decoded JSON tree against t and reports the first value
// that does not fit, naming its path. It renames deprecated keys in the
// tree, with a warning.
func (w *walker) check(v any, t reflect.Type, path string) error {
	name := path
	if name == "" {
		name = "rollout"
	}
	if v == nil { // null: the zero value, as encoding/json does
		return nil
	}
	if t == durationType {
		s, ok := v.(string)
		if !ok {
			return canary.Invalid(name, v, `must be a duration such as "90s", "2m" or "1h30m"`)
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return canary.Invalid(name, s, `is not a duration; write it like "90s", "2m" or "1h30m"`)
		}
		switch {
		case d < 0:
			return canary.Invalid(name, s, "must not be negative")
		case d > 0 && d < minDuration:
			return canary.Invalid(name, s, `is under a second, which is too short for anything in a rollout; durations are written like "30s", "2m" or "1h"`)
		case d > maxDuration:
			return canary.Invalid(name, s, "is over a year, which is too long for anything in a rollout")
		}
		return nil
	}
	if n, ok := v.(json.Number); ok && t == stageType { // a stage may be written as its weight alone
		if _, err := strconv.Atoi(string(n)); err != nil {
			return canary.Invalid(name, string(n), "must be a whole number (the weight) or a mapping {weight, hold}")
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return w.check(v, t.Elem(), path)
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return canary.Invalid(name, nil, "must be a mapping (got %s)", kindOf(v))
		}
		fields := map[string]reflect.StructField{}
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if tag != "" && tag != "-" {
				fields[tag] = f
			}
		}
		for _, k := range sortedKeys(obj) {
			nk, old := deprecated[t][k]
			if !old {
				continue
			}
			sub := join(path, k)
			if nv, both := obj[nk]; both {
				if !reflect.DeepEqual(nv, obj[k]) {
					return canary.Invalid(sub, nil, "is the old name of %s, which is given too with another value; give only %s", join(path, nk), nk)
				}
				w.warnings = append(w.warnings, fmt.Sprintf("%s is deprecated and repeats %s; drop it", sub, join(path, nk)))
				delete(obj, k)
				continue
			}
			w.warnings = append(w.warnings, fmt.Sprintf("%s is deprecated; write %s (read as %s)", sub, nk, join(path, nk)))
			obj[nk] = obj[k]
			delete(obj, k)
		}
		for _, k := range sortedKeys(obj) {
			f, ok := fields[k]
			sub := join(path, k)
			if !ok {
				return canary.Invalid(sub, nil, "is not a known field%s", known(fields))
			}
			if err := w.check(obj[k], f.Type, sub); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map: // string keys only (a webhook's metadata)
		obj, ok := v.(map[string]any)
		if !ok || t.Key().Kind() != reflect.String {
			return canary.Invalid(name, nil, "must be a mapping (got %s)", kindOf(v))
		}
		for _, k := range sortedKeys(obj) {
			if err := w.check(obj[k], t.Elem(), join(path, k)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			return canary.Invalid(name, nil, "must be a list (got %s)", kindOf(v))
		}
		for i, e := range arr {
			if err := w.check(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	case reflect.String:
		if _, ok := v.(string); !ok {
			return canary.Invalid(name, nil, "must be a string (got %s)", kindOf(v))
		}
		return nil
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return canary.Invalid(name, nil, "must be true or false (got %s)", kindOf(v))
		}
		return nil
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, ok := v.(json.Number)
		if !ok {
			return canary.Invalid(name, nil, "must be a whole number (got %s)", kindOf(v))
		}
		if _, err := strconv.ParseInt(string(n), 10, t.Bits()); err != nil {
			return canary.Invalid(name, string(n), "must be a whole number")
		}
		return nil
	case reflect.Float64:
		var x float64
		switch n := v.(type) {
		case json.Number:
			f, err := strconv.ParseFloat(string(n), 64)
			if err != nil {
				return canary.Invalid(name, string(n), "must be a number")
			}
			x = f
		case float64:
			x = n
		default:
			return canary.Invalid(name, nil, "must be a number (got %s)", kindOf(v))
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return canary.Invalid(name, nil, "must be a finite number (got %v)", x)
		}
		return nil
	}
	return canary.Invalid(name, nil, "has an unsupported type %s", t)
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func kindOf(v any) string {
	switch v.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

func known(fields map[string]reflect.StructField) string {
	if len(fields) == 0 {
		return " (this mapping takes no fields)"
	}
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sortStrings(names)
	return "; known: " + strings.Join(names, ", ")
}
