package traffictest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/traffic"
)

// The splits of each shape the suite writes.
var (
	headerExact  = traffic.Match{Header: "x-user", Value: "beta"}
	headerPrefix = traffic.Match{Header: "x-group", Kind: traffic.Prefix, Value: "internal-"}
	headerRegex  = traffic.Match{Header: "x-tier", Kind: traffic.Regex, Value: "gold|plat.*"}
	cookieMatch  = traffic.Match{Cookie: "canary", Value: "always"}
	affinity     = traffic.Affinity{Cookie: "canary-session", Value: "r-1a2b", MaxAge: 3600}
)

func cohortOf(t *testing.T, ms ...traffic.Match) traffic.Cohort {
	t.Helper()
	c, err := traffic.NewCohort(ms...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// declared reports whether the driver behind r carries s, by asking the
// Router's Check (no I/O), and fails t when Harness.Features says
// otherwise.
func declared(t *testing.T, h Harness, r *traffic.Router, s traffic.Split, want func(traffic.Features) bool) bool {
	t.Helper()
	err := r.Check(s)
	if err != nil && !errors.Is(err, canary.ErrInvalid) {
		t.Fatalf("Check(%v) = %v, want nil or an error matching canary.ErrInvalid", s, err)
	}
	if h.Features != nil && want(*h.Features) != (err == nil) {
		t.Fatalf("Check(%v) = %v, but Harness.Features %+v say the driver declares %v", s, err, *h.Features, want(*h.Features))
	}
	return err == nil
}

// shape writes s (weights, then other weights under the same shape),
// reads each back, releases (the shape goes, the weights stay) and rolls
// back to AllStable; or, when the driver does not declare the shape,
// checks that it is refused before any write, naming field.
func shape(t *testing.T, h Harness, field string, s traffic.Split, want func(traffic.Features) bool) {
	t.Helper()
	c := testCtx(t)
	r, _ := h.open(c, t)
	before := traffic.Weighted(10)
	if err := r.SetSplit(c, before); err != nil {
		t.Fatal(err)
	}
	if !declared(t, h, r, s, want) {
		refused(c, t, r, s, field)
		mustRead(c, t, r, before)
		return
	}
	for _, w := range []int{0, 20, 100} {
		s.Stable, s.Canary = 100-w, w
		if err := r.SetSplit(c, s); err != nil {
			t.Fatalf("SetSplit(%v): %v", s, err)
		}
		mustRead(c, t, r, s)
	}
	// Writing the same split again is harmless.
	if err := r.SetSplit(c, s); err != nil {
		t.Fatalf("SetSplit(%v) again: %v", s, err)
	}
	mustRead(c, t, r, s)
	s.Stable, s.Canary = 70, 30
	if err := r.SetSplit(c, s); err != nil {
		t.Fatal(err)
	}
	if err := r.Release(c); err != nil {
		t.Fatalf("Release: %v", err)
	}
	mustRead(c, t, r, traffic.Weighted(30))
	if err := r.SetSplit(c, s); err != nil {
		t.Fatal(err)
	}
	if err := r.SetSplit(c, traffic.AllStable()); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	mustRead(c, t, r, traffic.AllStable())
}

// refused checks that r refuses s with a *canary.FieldError on field
// before any I/O: with a cancelled context the error is still the
// FieldError, not the context's (the Router checks a split before it
// looks at the context, and the context before any I/O).
func refused(ctx context.Context, t *testing.T, r *traffic.Router, s traffic.Split, field string) {
	t.Helper()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, c := range []context.Context{cancelled, ctx} {
		err := r.SetSplit(c, s)
		var fe *canary.FieldError
		if !errors.As(err, &fe) || !errors.Is(err, canary.ErrInvalid) {
			t.Fatalf("SetSplit(%v) of a shape the driver does not declare = %v, want a *canary.FieldError before any I/O", s, err)
		}
		if !strings.HasPrefix(fe.Field, field) {
			t.Errorf("SetSplit(%v) refused on field %q, want %s", s, fe.Field, field)
		}
	}
}

// TestCohortHeaderExact: an A/B cohort of an exact header match is
// written and read back under changing weights, dropped by Release and by
// a rollback; a driver that does not declare header matches refuses it
// before any write.
func TestCohortHeaderExact(t *testing.T, h Harness) {
	shape(t, h, "Split.Cohort[0]", traffic.Split{Stable: 100, Cohort: cohortOf(t, headerExact)},
		func(f traffic.Features) bool { return f.HeaderMatch })
}

// TestCohortHeaderPrefix: as TestCohortHeaderExact, for a header matched
// by prefix.
func TestCohortHeaderPrefix(t *testing.T, h Harness) {
	shape(t, h, "Split.Cohort[0]", traffic.Split{Stable: 100, Cohort: cohortOf(t, headerPrefix)},
		func(f traffic.Features) bool { return f.HeaderMatch && f.PrefixMatch })
}

// TestCohortHeaderRegex: as TestCohortHeaderExact, for a header matched by
// a regular expression.
func TestCohortHeaderRegex(t *testing.T, h Harness) {
	shape(t, h, "Split.Cohort[0]", traffic.Split{Stable: 100, Cohort: cohortOf(t, headerRegex)},
		func(f traffic.Features) bool { return f.HeaderMatch && f.RegexMatch })
}

// TestCohortCookie: as TestCohortHeaderExact, for a cohort of a cookie and
// an exact header match (OR'ed).
func TestCohortCookie(t *testing.T, h Harness) {
	shape(t, h, "Split.Cohort[", traffic.Split{Stable: 100, Cohort: cohortOf(t, cookieMatch, headerExact)},
		func(f traffic.Features) bool { return f.CookieMatch && f.HeaderMatch })
}

// TestAffinity: session affinity under changing weights is written and
// read back, dropped by Release and by a rollback, or refused before any
// write by a driver that does not declare it.
func TestAffinity(t *testing.T, h Harness) {
	shape(t, h, "Split.Affinity", traffic.Split{Stable: 100, Affinity: affinity},
		func(f traffic.Features) bool { return f.Affinity })
}

// TestAllShapesTogether: the richest split the driver declares — test
// route, mirror, a cohort of every match kind it takes and affinity — is
// written and read back, released and rolled back. Skipped when the driver
// declares no cohort match and no affinity.
func TestAllShapesTogether(t *testing.T, h Harness) {
	c := testCtx(t)
	r, _ := h.open(c, t)
	s := traffic.Weighted(20)
	if !h.NoTestRoute {
		s.TestRoute = traffic.HeaderRoute{Name: "x-canary", Value: "always"}
	}
	if !h.NoMirror {
		s.Mirror = 10
	}
	var ms []traffic.Match
	for _, m := range []traffic.Match{headerExact, headerPrefix, headerRegex, cookieMatch} {
		if r.Check(traffic.Split{Stable: 100, Cohort: cohortOf(t, m)}) == nil {
			ms = append(ms, m)
		}
	}
	s.Cohort = cohortOf(t, ms...)
	if r.Check(traffic.Split{Stable: 100, Affinity: affinity}) == nil {
		s.Affinity = affinity
	}
	if s.Cohort.IsZero() && s.Affinity.IsZero() {
		t.Skip("the driver declares no cohort match and no affinity")
	}
	if err := r.SetSplit(c, s); err != nil {
		t.Fatalf("SetSplit(%v): %v", s, err)
	}
	mustRead(c, t, r, s)
	s.Stable, s.Canary = 50, 50
	if err := r.SetSplit(c, s); err != nil {
		t.Fatalf("SetSplit(%v): %v", s, err)
	}
	mustRead(c, t, r, s)
	if err := r.Release(c); err != nil {
		t.Fatal(err)
	}
	mustRead(c, t, r, traffic.Weighted(50))
	if err := r.SetSplit(c, s); err != nil {
		t.Fatal(err)
	}
	if err := r.SetSplit(c, traffic.AllStable()); err != nil {
		t.Fatal(err)
	}
	mustRead(c, t, r, traffic.AllStable())
}
