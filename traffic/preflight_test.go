package traffic_test

import (
	"context"
	"errors"
	"testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/traffic"
)

// preflightDriver is a memDriver that can tell whether it carries a
// rollout's versions.
type preflightDriver struct {
	*memDriver
	asked []traffic.Versions
	err   error
}

func (d *preflightDriver) Preflight(_ context.Context, v traffic.Versions) (traffic.Facts, error) {
	d.asked = append(d.asked, v)
	return traffic.Facts{Ephemeral: true}, d.err
}

func TestRouterPreflight(t *testing.T) {
	ctx := context.Background()
	v := traffic.Versions{Stable: "v1", Canary: "v2", Measured: true}

	// A driver that cannot tell: the zero Facts, no error.
	if f, err := traffic.NewRouter(&memDriver{split: traffic.AllStable()}, traffic.Config{}).Preflight(ctx, v); err != nil || f != (traffic.Facts{}) {
		t.Errorf("a driver without Preflight: %+v, %v", f, err)
	}

	d := &preflightDriver{memDriver: &memDriver{split: traffic.AllStable()}}
	r := traffic.NewRouter(d, traffic.Config{Name: "route shop/checkout"})
	if f, err := r.Preflight(ctx, v); err != nil || !f.Ephemeral || len(d.asked) != 1 || d.asked[0] != v {
		t.Errorf("Preflight = %+v, %v; asked %v", f, err, d.asked)
	}
	// A FieldError comes back as it is; another error is wrapped once,
	// naming the object, with its code.
	d.err = canary.Invalid("Versions.Canary", "v2", "no such subset")
	var fe *canary.FieldError
	if _, err := r.Preflight(ctx, v); !errors.As(err, &fe) || fe.Field != "Versions.Canary" {
		t.Errorf("Preflight = %v, want the driver's FieldError", err)
	}
	d.err = canary.WithCode(canary.NotFound, errors.New("no such route"))
	if _, err := r.Preflight(ctx, v); !errors.Is(err, traffic.ErrNotFound) {
		t.Errorf("Preflight = %v, want ErrNotFound", err)
	}
	// A cancelled context is refused before the driver is asked.
	c, cancel := context.WithCancel(ctx)
	cancel()
	n := len(d.asked)
	if _, err := r.Preflight(c, v); !errors.Is(err, context.Canceled) || len(d.asked) != n {
		t.Errorf("Preflight with a cancelled context = %v, asked %d times", err, len(d.asked)-n)
	}
}
