package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/meshcanary/canary"
)

// MaxSize is the largest rollout document Decode reads: 1 MiB.
const MaxSize = 1 << 20

// Decode reads one rollout from JSON strictly. An unknown field, a value of
// the wrong type, a duration that does not parse, or data after the object
// is a *[canary.FieldError] whose Field is the path as written in the file
// ("plan.steps[2].weight"). Decode does not validate; call Validate.
func Decode(r io.Reader) (*Rollout, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSize {
		return nil, canary.Invalid("rollout", nil, "is larger than %d bytes", MaxSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, canary.Invalid("rollout", nil, "is not a JSON document: %v", err)
	}
	if dec.More() {
		return nil, canary.Invalid("rollout", nil, "has data after the rollout object")
	}
	if err := check(tree, reflect.TypeFor[Rollout](), ""); err != nil {
		return nil, err
	}
	var ro Rollout
	strict := json.NewDecoder(bytes.NewReader(b))
	strict.DisallowUnknownFields()
	if err := strict.Decode(&ro); err != nil { // unreachable after check, kept as a guard
		return nil, canary.Invalid("rollout", nil, "%v", err)
	}
	return &ro, nil
}

var (
	durationType = reflect.TypeFor[Duration]()
	stepType     = reflect.TypeFor[Step]()
)

// check walks the decoded JSON tree against t and reports the first value
// that does not fit, naming its path.
func check(v any, t reflect.Type, path string) error {
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
		if d < 0 {
			return canary.Invalid(name, s, "must not be negative")
		}
		return nil
	}
	if n, ok := v.(json.Number); ok && t == stepType { // a step may be written as its weight alone
		if _, err := strconv.Atoi(string(n)); err != nil {
			return canary.Invalid(name, string(n), "must be a whole number (the weight) or a mapping {weight, hold}")
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return check(v, t.Elem(), path)
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
			f, ok := fields[k]
			sub := join(path, k)
			if !ok {
				return canary.Invalid(sub, nil, "is not a known field%s", known(fields))
			}
			if err := check(obj[k], f.Type, sub); err != nil {
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
			if err := check(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
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
		n, ok := v.(json.Number)
		if !ok {
			return canary.Invalid(name, nil, "must be a number (got %s)", kindOf(v))
		}
		if _, err := strconv.ParseFloat(string(n), 64); err != nil {
			return canary.Invalid(name, string(n), "must be a number")
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
	case json.Number:
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
