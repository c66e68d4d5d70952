package prometheus_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/meshcanary/canary/providers/prometheus"
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

// shows returns what err's node would show in an error message or a log.
func shows(err error) string {
	s := fmt.Sprintf("%v | %+v | %#v | %s", err, err, err, err.Error())
	var ve *v1.Error
	if errors.As(err, &ve) {
		s += " | " + ve.Msg + " | " + ve.Detail
	}
	return s
}

// TestNoSecretInTheErrorChain: a server that echoes the bearer token (or
// the other credentials) in its error. No error anywhere in the chain may
// show it: the old redaction rewrote the top error's text and *v1.Error,
// but one errors.Unwrap away the wrapped error still held the token.
func TestNoSecretInTheErrorChain(t *testing.T) {
	const token, password, apiKey = "tok-5e1f0a77c3", "pw-91ac2b77dd", "key-77aa01bc9e"
	secrets := []string{token, password, apiKey}
	echo := func(r *http.Request) string {
		return r.Header.Get("Authorization") + " " + r.Header.Get("X-Api-Key")
	}
	for _, c := range []struct {
		name   string
		status int
		body   func(r *http.Request) string
	}{
		{"plain 500", http.StatusInternalServerError, func(r *http.Request) string { return "denied: " + echo(r) }},
		{"plain 403", http.StatusForbidden, func(r *http.Request) string { return echo(r) }},
		{"api 422", http.StatusUnprocessableEntity, func(r *http.Request) string {
			return `{"status":"error","errorType":"execution","error":"token ` + echo(r) + ` refused"}`
		}},
	} {
		for _, cfg := range []prometheus.Config{
			{BearerToken: token},
			{BearerToken: token, Headers: map[string]string{"X-Api-Key": apiKey}},
			{BasicAuth: &prometheus.BasicAuth{Username: "grafana", Password: password}},
		} {
			t.Run(c.name, func(t *testing.T) {
				a, s := newAPI(t, func(r *http.Request) (int, string) { return c.status, c.body(r) })
				cfg.Address = s.URL
				_, err := newProvider(t, cfg).Query(context.Background(), q("x"))
				if err == nil {
					t.Fatal("no error")
				}
				if len(a.requests()) == 0 || strings.TrimSpace(echo(a.requests()[0])) == "" {
					t.Fatal("the server received no credentials, so the test proves nothing")
				}
				nodes := 0
				walkChain(err, func(e error) {
					nodes++
					for _, secret := range secrets {
						if s := shows(e); strings.Contains(s, secret) {
							t.Errorf("node %d of the chain (%T) shows %q: %s", nodes, e, secret, s)
						}
					}
				})
				if nodes < 2 {
					t.Errorf("chain of %d errors; expected the wrapped server error to stay reachable", nodes)
				}
				var ve *v1.Error
				if !errors.As(err, &ve) {
					t.Errorf("*v1.Error no longer reachable: %v", err)
				}
			})
		}
	}
}
