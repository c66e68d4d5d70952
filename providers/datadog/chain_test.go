package datadog_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	dd "github.com/DataDog/datadog-api-client-go/v2/api/datadog"
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

// TestNoKeyInTheErrorChain walks the whole error chain, not only the text
// of the top error, for the API and application keys a server echoed.
func TestNoKeyInTheErrorChain(t *testing.T) {
	s := newServer(t)
	s.handle("forbidden", errorAnswer(http.StatusForbidden, "Forbidden: API key "+testAPIKey+" with application key "+testAppKey))
	s.handle("unauthorized", errorAnswer(http.StatusUnauthorized, "Unauthorized "+testAPIKey))
	s.handle("server", errorAnswer(http.StatusInternalServerError, "internal error for "+testAppKey))
	s.handle("inline", func(t *testing.T, w http.ResponseWriter, _ *http.Request, _ string, _ request, _ int) {
		writeJSON(w, http.StatusOK, map[string]any{"errors": "bad key " + testAppKey})
	})
	s.handle("garbled", func(t *testing.T, w http.ResponseWriter, _ *http.Request, _ string, _ request, _ int) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("not json " + testAPIKey))
	})
	p := newProvider(t, s, nil)
	for _, query := range []string{"forbidden", "unauthorized", "server", "inline", "garbled"} {
		_, err := p.Query(context.Background(), q(query))
		if err == nil {
			t.Fatalf("%s: no error", query)
		}
		n := 0
		walkChain(err, func(e error) {
			n++
			shown := fmt.Sprintf("%v | %+v | %s", e, e, e.Error())
			if g, ok := e.(dd.GenericOpenAPIError); ok {
				shown += string(g.Body()) + fmt.Sprint(g.Model())
			}
			if g, ok := e.(*dd.GenericOpenAPIError); ok {
				shown += string(g.Body()) + fmt.Sprint(g.Model())
			}
			for _, key := range []string{testAPIKey, testAppKey} {
				if strings.Contains(shown, key) {
					t.Errorf("%s: error %d of the chain (%T) shows a key: %s", query, n, e, shown)
				}
			}
		})
	}
}
