package traffic

import (
	"fmt"
	"regexp"

	"github.com/meshcanary/canary"
)

// Sentinel errors the Router's errors match with errors.Is. The driver's
// native error stays reachable with errors.As, and [canary.Code] classifies
// each of them.
var (
	// ErrConflict: the route object changed under the router and its
	// bounded retries did not get a write through. Its code is
	// [canary.Conflict].
	ErrConflict = canary.NewError(canary.Conflict, "traffic: conflicting update")
	// ErrNotFound: the object the router manages does not exist (any
	// more). Its code is [canary.NotFound].
	ErrNotFound = canary.NewError(canary.NotFound, "traffic: route not found")
	// ErrVerify: the split the back end stored after a write differs
	// from the one written (a mutating webhook, another controller). Its
	// code is [canary.Conflict]: reading again and retrying may succeed.
	ErrVerify = canary.NewError(canary.Conflict, "traffic: split read back differs from the split written")
)

// Split is the desired or observed division of traffic between the stable
// and the canary version. It is a comparable value: == tells whether two
// splits are the same, and a copy shares nothing with the original.
type Split struct {
	// Stable and Canary are whole percentages, each 0–100, summing to 100.
	Stable int `json:"stable"`
	Canary int `json:"canary"`
	// Mirror is the percentage (0–100) of requests copied to the canary in
	// addition to the weighted split. Zero mirrors nothing.
	Mirror int `json:"mirror,omitempty"`
	// TestRoute, when set, sends requests matching it to the canary before
	// the weighted split applies. The zero HeaderRoute means no such
	// route (and is left out of the JSON).
	TestRoute HeaderRoute `json:"testRoute,omitzero"`
	// Cohort, when set, sends the requests that match it to the canary
	// whatever the weights say (after TestRoute, before the weights): the
	// cohort of an A/B test. The zero Cohort matches nothing.
	Cohort Cohort `json:"cohort,omitzero"`
	// Affinity, when set, keeps a session on the canary once a request of
	// it has been sent there (see [Affinity]). The zero Affinity means
	// none.
	Affinity Affinity `json:"affinity,omitzero"`
}

// HeaderRoute matches requests whose header Name equals Value exactly. Its
// zero value means "no test route".
type HeaderRoute struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// AllStable is the split that sends every request to the stable version.
func AllStable() Split { return Split{Stable: 100} }

// Weighted returns the split with canary percent on the canary and the rest
// on stable.
func Weighted(canaryPercent int) Split {
	return Split{Stable: 100 - canaryPercent, Canary: canaryPercent}
}

// HTTP header names are tokens (RFC 9110 §5.6.2).
var headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// Validate reports the first bad field of s as a *[canary.FieldError].
func (s Split) Validate() error {
	switch {
	case s.Canary < 0 || s.Canary > 100:
		return canary.Invalid("Split.Canary", s.Canary, "must be between 0 and 100")
	case s.Stable < 0 || s.Stable > 100:
		return canary.Invalid("Split.Stable", s.Stable, "must be between 0 and 100")
	case s.Stable+s.Canary != 100:
		return canary.Invalid("Split.Canary", s.Canary, "stable %d + canary %d must sum to 100", s.Stable, s.Canary)
	case s.Mirror < 0 || s.Mirror > 100:
		return canary.Invalid("Split.Mirror", s.Mirror, "must be between 0 and 100")
	}
	if r := s.TestRoute; r != (HeaderRoute{}) {
		if !headerName.MatchString(r.Name) {
			return canary.Invalid("Split.TestRoute.Name", r.Name, "must be an HTTP header name (a token)")
		}
		if err := checkValue("Split.TestRoute.Value", r.Value); err != nil {
			return err
		}
	}
	if err := s.Cohort.validate(); err != nil {
		return err
	}
	if !s.Affinity.IsZero() {
		if err := s.Affinity.validate(); err != nil {
			return err
		}
	}
	return nil
}

// Equal reports whether s and o describe the same split: s == o.
func (s Split) Equal(o Split) bool { return s == o }

// HasTestRoute reports whether s has a test route (a non-zero TestRoute).
func (s Split) HasTestRoute() bool { return s.TestRoute != (HeaderRoute{}) }

func (s Split) String() string {
	str := fmt.Sprintf("stable %d%% / canary %d%%", s.Stable, s.Canary)
	if s.Mirror > 0 {
		str += fmt.Sprintf(", mirror %d%%", s.Mirror)
	}
	if s.HasTestRoute() {
		str += fmt.Sprintf(", test route %s=%s", s.TestRoute.Name, s.TestRoute.Value)
	}
	if !s.Cohort.IsZero() {
		str += ", cohort " + s.Cohort.String()
	}
	if !s.Affinity.IsZero() {
		str += fmt.Sprintf(", affinity cookie %s (%d s)", s.Affinity.Cookie, s.Affinity.MaxAge)
	}
	return str
}
