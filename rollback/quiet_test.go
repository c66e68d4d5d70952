package rollback_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/rollback"
)

// TestQuietStepIsTheFullRound steps two rollouts over the same fakes at
// the same instants, one of them always through the machine (NoQuiet),
// and compares everything a caller can see after every call: the
// Status, the error, the State, the events, the router's and the
// scaler's calls. The instants are irregular (every 1 to 29 s, and the
// Next each Step asks for), with operators' commands between them, a router and a sink that fail
// now and then, so
// that many Steps are quiet and many are not.
func TestQuietStepIsTheFullRound(t *testing.T) {
	bad := fake.From(t0.Add(50*time.Minute), fake.Constant(0.001, 500), fake.Constant(0.2, 500))
	for _, tc := range []struct {
		name   string
		plan   rollback.Plan
		series fake.Series
		ready  bool
	}{
		{"holds", rollback.Plan{Stages: rollback.Weights(10, 30, 60), Interval: time.Minute, Hold: 10 * time.Minute}, fake.Constant(0.001, 500), false},
		{"rolls back", rollback.Plan{Stages: rollback.Weights(10, 50), Interval: 2 * time.Minute, Hold: 30 * time.Minute}, bad, false},
		{"readiness", rollback.Plan{Stages: rollback.Weights(20, 50), Interval: time.Minute, Hold: 20 * time.Minute}, fake.Constant(0.001, 500), true},
		{"time only", rollback.Plan{Stages: rollback.Weights(20, 50), Interval: time.Minute, Hold: 20 * time.Minute}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sinkDown := false
			var hs [2]*harness
			var rs [2]*rollback.Rollout
			for i := range hs {
				h := newHarness(tc.plan, rollback.Policy{}, tc.series)
				if tc.ready {
					h.cfg.Readiness = h.scaler
				}
				if tc.series == nil {
					h.cfg.Metrics, h.cfg.Analyzer = nil, nil
				}
				sink := h.cfg.Sink
				h.cfg.Sink = rollback.SinkFunc(func(ctx context.Context, e rollback.Event) error {
					if sinkDown {
						return errors.New("sink down")
					}
					return sink.Record(ctx, e)
				})
				hs[i], rs[i] = h, h.build(t)
			}
			rollback.NoQuiet(rs[1])
			ctx := context.Background()
			now, quiet := t0, 0
			for i := 0; i < 1500; i++ {
				if rollback.WouldBeQuiet(rs[0], now) {
					quiet++
				}
				var sts [2]rollback.Status
				var errs [2]string
				sinkDown = i%113 >= 30 && i%113 < 34
				for k, r := range rs {
					var err error
					switch {
					case i%97 == 50:
						sts[k], err = r.Pause(ctx, now, "ops", "look")
					case i%97 == 60:
						sts[k], err = r.Resume(ctx, now, "ops", "go on")
					case i == 70:
						hs[k].scaler.SetNotReady("v2", "crash loop")
					case i%89 == 20:
						hs[k].router.Fail("set", errors.New("router down"), errors.New("router down"))
						sts[k], err = r.Step(ctx, now)
					default:
						sts[k], err = r.Step(ctx, now)
					}
					errs[k] = fmt.Sprint(err)
				}
				if !reflect.DeepEqual(sts[0], sts[1]) || errs[0] != errs[1] {
					t.Fatalf("call %d at %v: quiet %+v, %s; full round %+v, %s", i, now, sts[0], errs[0], sts[1], errs[1])
				}
				if a, b := rs[0].State(), rs[1].State(); !reflect.DeepEqual(a, b) {
					t.Fatalf("call %d at %v: states differ:\n%+v\n%+v", i, now, a, b)
				}
				if !reflect.DeepEqual(hs[0].events, hs[1].events) || !reflect.DeepEqual(hs[0].router.Actions(), hs[1].router.Actions()) ||
					!reflect.DeepEqual(hs[0].scaler.Actions(), hs[1].scaler.Actions()) {
					t.Fatalf("call %d at %v: events or calls differ", i, now)
				}
				if sts[0].Phase.Final() {
					break
				}
				step := time.Duration(1+(i*37)%29) * time.Second
				if i%3 == 0 && sts[0].Next.After(now) {
					now = sts[0].Next
				} else {
					now = now.Add(step)
				}
			}
			if quiet < 10 {
				t.Fatalf("%d quiet Steps: the test does not exercise the quiet path", quiet)
			}
			t.Logf("%d quiet Steps", quiet)
		})
	}
}
