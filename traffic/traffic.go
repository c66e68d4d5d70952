package traffic

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/meshcanary/canary"
)

// Sentinel errors an adapter wraps so that callers can use errors.Is. An
// adapter also keeps its native error reachable with errors.As.
var (
	// ErrConflict: the route object changed under the adapter and its
	// bounded retries did not get a write through.
	ErrConflict = errors.New("traffic: conflicting update")
	// ErrNotFound: the object the router manages does not exist (any more).
	ErrNotFound = errors.New("traffic: route not found")
	// ErrVerify: the split read back after a write differs from the one written.
	ErrVerify = errors.New("traffic: split read back differs from the split written")
)

// Split is the desired or observed division of traffic between the stable
// and the canary version.
type Split struct {
	// Stable and Canary are whole percentages, each 0–100, summing to 100.
	Stable int `json:"stable"`
	Canary int `json:"canary"`
	// Mirror is the percentage (0–100) of requests copied to the canary in
	// addition to the weighted split. Zero mirrors nothing.
	Mirror int `json:"mirror,omitempty"`
	// TestRoute, when set, sends requests matching it to the canary before
	// the weighted split applies. Nil means no such route.
	TestRoute *HeaderRoute `json:"testRoute,omitempty"`
}

// HeaderRoute matches requests whose header Name equals Value exactly.
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

// Validate reports the first bad field of s as a *canary.FieldError.
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
	if r := s.TestRoute; r != nil {
		if !headerName.MatchString(r.Name) {
			return canary.Invalid("Split.TestRoute.Name", r.Name, "must be an HTTP header name (a token)")
		}
		if r.Value == "" || len(r.Value) > 256 {
			return canary.Invalid("Split.TestRoute.Value", r.Value, "must be 1 to 256 characters")
		}
		for _, c := range r.Value {
			if c < 0x20 || c == 0x7f {
				return canary.Invalid("Split.TestRoute.Value", r.Value, "must not contain control characters")
			}
		}
	}
	return nil
}

// Equal reports whether s and o describe the same split.
func (s Split) Equal(o Split) bool {
	if s.Stable != o.Stable || s.Canary != o.Canary || s.Mirror != o.Mirror {
		return false
	}
	if (s.TestRoute == nil) != (o.TestRoute == nil) {
		return false
	}
	return s.TestRoute == nil || *s.TestRoute == *o.TestRoute
}

func (s Split) String() string {
	str := fmt.Sprintf("stable %d%% / canary %d%%", s.Stable, s.Canary)
	if s.Mirror > 0 {
		str += fmt.Sprintf(", mirror %d%%", s.Mirror)
	}
	if s.TestRoute != nil {
		str += fmt.Sprintf(", test route %s=%s", s.TestRoute.Name, s.TestRoute.Value)
	}
	return str
}

// Router applies splits to a mesh. Implementations are safe for concurrent
// use.
type Router interface {
	// SetSplit makes s the split in force. It validates s first and writes
	// nothing when s is invalid. Writing the split already in force is
	// harmless. Implementations retry conflicts a bounded number of times
	// and return an error wrapping ErrConflict when they give up.
	//
	// SetSplit verifies its write: it returns nil only when the split in
	// force after the write, as the back end reports it (the object the
	// write returned, or a read), equals s, and an error wrapping ErrVerify
	// otherwise. Callers therefore need no read after a write; a rollback
	// costs one write.
	SetSplit(ctx context.Context, s Split) error
	// Split reads back the split in force. It returns an error wrapping
	// ErrNotFound when the managed route does not exist.
	Split(ctx context.Context) (Split, error)
	// Release removes what the router added for the rollout (test route,
	// mirror) and leaves the weights as they are. Releasing twice, or
	// releasing a router that never wrote, is harmless.
	Release(ctx context.Context) error
}

// Verify reads the split back from r and returns an error wrapping ErrVerify
// when it differs from want: a check that the split is still in force, for
// callers that want to detect drift (someone else editing the route).
func Verify(ctx context.Context, r Router, want Split) error {
	got, err := r.Split(ctx)
	if err != nil {
		return err
	}
	if !got.Equal(want) {
		return fmt.Errorf("%w: wrote %v, read %v", ErrVerify, want, got)
	}
	return nil
}
