package kubernetes

import "github.com/meshcanary/canary"

// name is one configured object name and the Kubernetes rule it must
// follow (validation.IsDNS1123Label and the like).
type name struct {
	field, value string
	check        func(string) []string
}

// checkNames returns a *canary.FieldError for the first name that breaks
// its rule, naming the field; nil when all follow theirs.
func checkNames(names ...name) error {
	for _, n := range names {
		if errs := n.check(n.value); len(errs) > 0 {
			return canary.Invalid(n.field, n.value, "%s", errs[0])
		}
	}
	return nil
}
