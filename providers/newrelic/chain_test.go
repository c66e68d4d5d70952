package newrelic_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// walkChain calls visit on err and on every error reachable from it with
// errors.Unwrap or the multi-error Unwrap() []error.
func walkChain(err error, visit func(error)) {
	if err == nil {
		return
	}
	visit(err)
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		walkChain(u.Unwrap(), visit)
	case interface{ Unwrap() []error }:
		for _, k := range u.Unwrap() {
			walkChain(k, visit)
		}
	}
}

// TestNoKeyInTheErrorChain walks the whole error chain, both forms of
// Unwrap, for the API key a server echoed.
func TestNoKeyInTheErrorChain(t *testing.T) {
	s := newServer(t)
	s.handle("unauthorized", statusAnswer(http.StatusUnauthorized, gqlErrors("Invalid API key "+testKey)))
	s.handle("bad key", statusAnswer(http.StatusOK, map[string]any{"errors": []any{map[string]any{
		"message":    "Invalid API key: " + testKey,
		"extensions": map[string]any{"error_code": "BAD_API_KEY"},
	}}}))
	s.handle("bad request", statusAnswer(http.StatusBadRequest, gqlErrors("cannot parse request with key "+testKey)))
	s.handle("server", statusAnswer(http.StatusInternalServerError, gqlErrors("upstream refused "+testKey)))
	s.handle("graphql", statusAnswer(http.StatusOK, gqlErrors("NRQL error near "+testKey)))
	p := newProvider(t, s, nil)
	for _, nrql := range []string{"unauthorized", "bad key", "bad request", "server", "graphql"} {
		_, err := p.Query(context.Background(), q(nrql))
		if err == nil {
			t.Fatalf("%s: no error", nrql)
		}
		n := 0
		walkChain(err, func(e error) {
			n++
			if shown := fmt.Sprintf("%v | %+v | %s", e, e, e.Error()); strings.Contains(shown, testKey) {
				t.Errorf("%s: error %d of the chain (%T) shows the key: %s", nrql, n, e, shown)
			}
		})
	}
}
