package prometheus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/meshcanary/canary/metrics"
)

// TestScrubWalksMultiErrors: the chain eval builds when the context ends
// during a failed request is a multi-error ("%w: %w"); the token must be
// gone from every branch while errors.Is and errors.As keep working.
func TestScrubWalksMultiErrors(t *testing.T) {
	const token = "tok-c4f1e2a9b0"
	p, err := New(Config{Address: "http://127.0.0.1:1", BearerToken: token})
	if err != nil {
		t.Fatal(err)
	}
	server := &v1.Error{Type: v1.ErrServer, Msg: "refused Bearer " + token, Detail: "Authorization: Bearer " + token}
	inner := fmt.Errorf("%w: %w", context.DeadlineExceeded, fmt.Errorf("round trip (token %s): %w", token, server))
	q := metrics.Query{Text: "up", Window: time.Minute, End: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}
	got := p.d.wrap(q, errors.Join(inner, metrics.ErrNoData))
	var walk func(error)
	n := 0
	walk = func(e error) {
		if e == nil {
			return
		}
		n++
		s := fmt.Sprintf("%v %+v %#v", e, e, e)
		if ve, ok := e.(*v1.Error); ok {
			s += ve.Msg + ve.Detail
		}
		if strings.Contains(s, token) {
			t.Errorf("%T in the chain shows the token: %s", e, s)
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, k := range u.Unwrap() {
				walk(k)
			}
		}
	}
	walk(got)
	if n < 5 {
		t.Errorf("walked %d errors; the chain lost its branches", n)
	}
	if !errors.Is(got, context.DeadlineExceeded) || !errors.Is(got, metrics.ErrNoData) {
		t.Errorf("errors.Is lost a sentinel: %v", got)
	}
	var ve *v1.Error
	if !errors.As(got, &ve) || ve.Type != v1.ErrServer || !strings.Contains(ve.Msg, "[REDACTED]") {
		t.Errorf("errors.As(*v1.Error) = %+v", ve)
	}
	if server.Msg != "refused Bearer "+token {
		t.Error("scrub changed the caller's error in place")
	}
}
