package traffic_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/traffic"
)

// nativeErr is a back end's own error type, classified by its status.
type nativeErr struct{ status int }

func (e *nativeErr) Error() string { return fmt.Sprintf("back end answered %d", e.status) }

// memDriver is an in-memory back end with versions, a script of conflicts
// (another client writing between the read and the write) and a log of
// calls.
type memDriver struct {
	split      traffic.Split
	version    int
	unreadable bool // the object's split cannot be read
	conflicts  int  // the next writes find the object changed
	store      func(traffic.Split) traffic.Split
	garbled    bool // the write goes through, but what it stored cannot be read
	readErr    error
	checkErr   error
	calls      []string
}

func (d *memDriver) Read(ctx context.Context) (traffic.Split, traffic.Revision, error) {
	d.calls = append(d.calls, "read")
	if d.readErr != nil {
		return traffic.Split{}, nil, d.readErr
	}
	if d.unreadable {
		return traffic.Split{}, d.version, errors.New("weights do not sum to 100")
	}
	return d.split, d.version, nil
}

func (d *memDriver) Write(ctx context.Context, v traffic.Revision, s traffic.Split) (traffic.Split, traffic.Revision, error) {
	d.calls = append(d.calls, fmt.Sprintf("write@%v", v))
	if d.conflicts > 0 {
		d.conflicts--
		d.version++ // someone else wrote
	}
	if v.(int) != d.version {
		return traffic.Split{}, nil, &nativeErr{409}
	}
	if d.store != nil {
		s = d.store(s)
	}
	d.split, d.unreadable = s, false
	d.version++
	if d.garbled {
		return traffic.Split{}, d.version, errors.New("weights do not sum to 100")
	}
	return d.split, d.version, nil
}

func (d *memDriver) ErrorCode(err error) canary.ErrorCode {
	var n *nativeErr
	if errors.As(err, &n) {
		return canary.HTTPCode(n.status)
	}
	return canary.Unknown
}

func (d *memDriver) Check(s traffic.Split) error { return d.checkErr }

// pauses records the back-off pauses instead of sleeping.
type pauses []time.Duration

func (p *pauses) sleep(_ context.Context, d time.Duration) error { *p = append(*p, d); return nil }

func newRouter(d *memDriver, p *pauses, retries int) *traffic.Router {
	return traffic.NewRouter(d, traffic.Config{Name: "Mem test/route", Retries: retries, Sleep: p.sleep, Rand: func() float64 { return 0.5 }})
}

func TestRouterSkipsAWriteThatChangesNothing(t *testing.T) {
	d := &memDriver{split: traffic.Weighted(20)}
	r := newRouter(d, new(pauses), 0)
	if err := r.SetSplit(context.Background(), traffic.Weighted(20)); err != nil {
		t.Fatal(err)
	}
	if strings.Join(d.calls, " ") != "read" {
		t.Errorf("calls = %v, want one read and no write", d.calls)
	}
}

func TestRouterRetriesConflictsWithBackoffAndJitter(t *testing.T) {
	d := &memDriver{split: traffic.AllStable(), conflicts: 3}
	var p pauses
	r := newRouter(d, &p, 0)
	if err := r.SetSplit(context.Background(), traffic.Weighted(30)); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(d.calls, " "), "read write@0 read write@1 read write@2 read write@3"; got != want {
		t.Errorf("calls = %s, want %s (a fresh read before each retry)", got, want)
	}
	// 10 ms × 5^(n-1), each lengthened by Jitter (0.1) × Rand (0.5).
	want := pauses{10500 * time.Microsecond, 52500 * time.Microsecond, 262500 * time.Microsecond}
	if fmt.Sprint(p) != fmt.Sprint(want) {
		t.Errorf("pauses = %v, want %v", p, want)
	}
	if d.split != traffic.Weighted(30) {
		t.Errorf("stored %v", d.split)
	}
}

func TestRouterGivesUpOnConflicts(t *testing.T) {
	d := &memDriver{split: traffic.AllStable(), conflicts: 100}
	var p pauses
	r := newRouter(d, &p, 2)
	err := r.SetSplit(context.Background(), traffic.Weighted(30))
	var n *nativeErr
	if !errors.Is(err, traffic.ErrConflict) || !errors.As(err, &n) || n.status != 409 || canary.Code(err) != canary.Conflict {
		t.Fatalf("SetSplit = %v, want ErrConflict, code Conflict and the native 409", err)
	}
	if !strings.Contains(err.Error(), "Mem test/route") || !strings.Contains(err.Error(), "3 conflicting writes") {
		t.Errorf("error %q should name the object and count the attempts", err)
	}
	if len(p) != 2 {
		t.Errorf("%d pauses, want 2 (one before each retry)", len(p))
	}
	// Negative Retries: no retry at all.
	d = &memDriver{split: traffic.AllStable(), conflicts: 100}
	r = newRouter(d, new(pauses), -1)
	if err := r.SetSplit(context.Background(), traffic.Weighted(30)); !errors.Is(err, traffic.ErrConflict) || len(d.calls) != 2 {
		t.Errorf("Retries -1: %v after %v", err, d.calls)
	}
}

func TestRouterVerifiesWhatWasStored(t *testing.T) {
	d := &memDriver{split: traffic.AllStable(), store: func(traffic.Split) traffic.Split { return traffic.Weighted(50) }}
	r := newRouter(d, new(pauses), 0)
	err := r.SetSplit(context.Background(), traffic.Weighted(10))
	if !errors.Is(err, traffic.ErrVerify) || errors.Is(err, traffic.ErrConflict) || canary.Code(err) != canary.Conflict {
		t.Fatalf("SetSplit = %v, want ErrVerify (code Conflict, not ErrConflict)", err)
	}
	if !strings.Contains(err.Error(), "canary 10%") || !strings.Contains(err.Error(), "canary 50%") {
		t.Errorf("error %q should show both splits", err)
	}
}

func TestRouterWrittenButUnreadableIsErrVerify(t *testing.T) {
	d := &memDriver{split: traffic.AllStable(), garbled: true}
	r := newRouter(d, new(pauses), 0)
	err := r.SetSplit(context.Background(), traffic.Weighted(10))
	if !errors.Is(err, traffic.ErrVerify) || !strings.Contains(err.Error(), "do not sum to 100") {
		t.Fatalf("SetSplit = %v, want ErrVerify with the reading error", err)
	}
	if len(d.calls) != 2 {
		t.Errorf("calls %v, want one read and one write (no retry)", d.calls)
	}
}

func TestRouterRollbackIsOneWrite(t *testing.T) {
	d := &memDriver{split: traffic.AllStable()}
	r := newRouter(d, new(pauses), 0)
	ctx := context.Background()
	if err := r.SetSplit(ctx, traffic.Weighted(40)); err != nil {
		t.Fatal(err)
	}
	d.calls = nil
	if err := r.SetSplit(ctx, traffic.AllStable()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(d.calls, " "); got != "write@1" {
		t.Errorf("rollback calls = %s, want one write on the version last seen", got)
	}
	// The version last seen is stale: read afresh, no pause, write.
	if err := r.SetSplit(ctx, traffic.Weighted(40)); err != nil {
		t.Fatal(err)
	}
	d.version += 10 // someone else wrote
	d.calls = nil
	var p pauses
	r2 := newRouter(d, &p, 0)
	if _, err := r2.Split(ctx); err != nil {
		t.Fatal(err)
	}
	d.version++
	d.calls = nil
	if err := r2.SetSplit(ctx, traffic.AllStable()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(d.calls, " "); got != "write@13 read write@14" || len(p) != 0 {
		t.Errorf("stale rollback calls = %s, pauses %v; want write, read, write and no pause", got, p)
	}
	// A router that never read anything reads first.
	d.calls = nil
	r3 := newRouter(d, new(pauses), 0)
	if err := r3.SetSplit(ctx, traffic.AllStable()); err != nil || strings.Join(d.calls, " ") != "read" {
		t.Errorf("fresh router's rollback: %v, calls %v", err, d.calls)
	}
}

func TestRouterWritesOverAnUnreadableSplit(t *testing.T) {
	d := &memDriver{unreadable: true}
	r := newRouter(d, new(pauses), 0)
	ctx := context.Background()
	if _, err := r.Split(ctx); err == nil {
		t.Fatal("Split of an unreadable object = nil error")
	}
	if err := r.Release(ctx); err == nil {
		t.Fatal("Release of an unreadable object = nil error")
	}
	if err := r.SetSplit(ctx, traffic.Weighted(40)); err != nil {
		t.Fatalf("SetSplit over an unreadable split: %v", err)
	}
	if s, err := r.Split(ctx); err != nil || s != traffic.Weighted(40) {
		t.Fatalf("after the write: %v, %v", s, err)
	}
}

func TestRouterRelease(t *testing.T) {
	d := &memDriver{split: traffic.Split{Stable: 70, Canary: 30, Mirror: 5, TestRoute: traffic.HeaderRoute{Name: "x", Value: "1"}}}
	r := newRouter(d, new(pauses), 0)
	ctx := context.Background()
	if err := r.Release(ctx); err != nil || d.split != traffic.Weighted(30) {
		t.Fatalf("Release: %v, stored %v", err, d.split)
	}
	d.calls = nil
	if err := r.Release(ctx); err != nil || strings.Join(d.calls, " ") != "read" {
		t.Errorf("second Release: %v, calls %v; want a read and no write", err, d.calls)
	}
}

func TestRouterRefusesBeforeAnyIO(t *testing.T) {
	d := &memDriver{split: traffic.AllStable(), checkErr: canary.Invalid("Split.Mirror", 5, "cannot mirror")}
	r := newRouter(d, new(pauses), 0)
	ctx, cancel := context.WithCancel(context.Background())
	var fe *canary.FieldError
	if err := r.SetSplit(ctx, traffic.Split{Stable: 50, Canary: 60}); !errors.As(err, &fe) || fe.Field != "Split.Canary" {
		t.Errorf("invalid split: %v", err)
	}
	if err := r.SetSplit(ctx, traffic.Split{Stable: 100, Mirror: 5}); !errors.As(err, &fe) || fe.Field != "Split.Mirror" {
		t.Errorf("split the driver cannot express: %v", err)
	}
	cancel()
	d.checkErr = nil
	for _, err := range []error{r.SetSplit(ctx, traffic.Weighted(10)), r.Release(ctx), func() error { _, err := r.Split(ctx); return err }()} {
		if !errors.Is(err, context.Canceled) || canary.Code(err) != canary.Canceled {
			t.Errorf("cancelled context: %v (code %v)", err, canary.Code(err))
		}
	}
	if len(d.calls) != 0 {
		t.Errorf("calls %v, want none", d.calls)
	}
}

func TestRouterErrorCodes(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   canary.ErrorCode
		is     error
	}{
		{404, canary.NotFound, traffic.ErrNotFound},
		{403, canary.Unauthorized, nil},
		{429, canary.RateLimited, nil},
		{503, canary.Unavailable, nil},
		{504, canary.DeadlineExceeded, nil},
		{422, canary.InvalidArgument, nil},
	} {
		d := &memDriver{readErr: &nativeErr{tc.status}}
		r := newRouter(d, new(pauses), 0)
		err := r.SetSplit(context.Background(), traffic.Weighted(10))
		var n *nativeErr
		if canary.Code(err) != tc.code || !errors.As(err, &n) || n.status != tc.status {
			t.Errorf("%d: %v, code %v, want %v with the native error", tc.status, err, canary.Code(err), tc.code)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%d: %v does not match %v", tc.status, err, tc.is)
		}
		if tc.is == nil && (errors.Is(err, traffic.ErrNotFound) || errors.Is(err, traffic.ErrConflict)) {
			t.Errorf("%d: %v matches a sentinel it should not", tc.status, err)
		}
	}
	// An error the driver cannot classify falls back to canary.Code.
	d := &memDriver{readErr: fmt.Errorf("dial: %w", context.DeadlineExceeded)}
	if err := newRouter(d, new(pauses), 0).SetSplit(context.Background(), traffic.Weighted(1)); canary.Code(err) != canary.DeadlineExceeded {
		t.Errorf("wrapped deadline: code %v", canary.Code(err))
	}
}

func TestBackoffPause(t *testing.T) {
	b := traffic.Backoff{Duration: 100 * time.Millisecond, Factor: 3, Jitter: 0.5, Cap: time.Second}
	for _, tc := range []struct {
		retry int
		u     float64
		want  time.Duration
	}{
		{1, 0, 100 * time.Millisecond},
		{1, 0.99, 149500 * time.Microsecond},
		{2, 0, 300 * time.Millisecond},
		{3, 0, 900 * time.Millisecond},
		{3, 0.5, time.Second}, // 1125 ms capped
		{40, 0.5, time.Second},
	} {
		if got := b.Pause(tc.retry, tc.u); got != tc.want {
			t.Errorf("Pause(%d, %v) = %v, want %v", tc.retry, tc.u, got, tc.want)
		}
	}
	if got := (traffic.Backoff{Duration: time.Millisecond, Factor: 0.5}).Pause(3, 0); got != time.Millisecond {
		t.Errorf("a factor below 1 shrank the pause: %v", got)
	}
}
