package httpsplit_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/metrics/metricstest"
	"github.com/meshcanary/canary/providers/httpsplit"
)

// scripted is a back end whose reported usage the test sets.
type scripted struct {
	mu   sync.Mutex
	u    httpsplit.Usage
	fail bool
	srv  *httptest.Server
}

func newScripted(t *testing.T, u httpsplit.Usage) *scripted {
	s := &scripted{u: u}
	h := httpsplit.ResourceHandler(func() httpsplit.Usage {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.u
	})
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		fail := s.fail
		s.mu.Unlock()
		if fail {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *scripted) set(f func(u *httpsplit.Usage)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.u)
}

var rt0 = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

// resourceRig has two stable back ends at 0.5 cores and 100 MB each and
// one canary back end at 2 cores, its memory growing 10 MB a sample,
// sampled every 10 s from rt0 for four samples.
type resourceRig struct {
	clock          *clock
	mon            *httpsplit.ResourceMonitor
	stable, canary []*scripted
}

func newResourceRig(t *testing.T) *resourceRig {
	started := rt0.Add(-time.Hour)
	r := &resourceRig{clock: newClock(rt0)}
	for range 2 {
		r.stable = append(r.stable, newScripted(t, httpsplit.Usage{MemoryBytes: 100e6, Started: started}))
	}
	r.canary = []*scripted{newScripted(t, httpsplit.Usage{MemoryBytes: 200e6, Started: started})}
	var err error
	r.mon, err = httpsplit.NewResourceMonitor(httpsplit.ResourceMonitorConfig{
		Stable: []string{r.stable[0].srv.URL, r.stable[1].srv.URL},
		Canary: []string{r.canary[0].srv.URL},
		Now:    r.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if i > 0 {
			r.clock.Advance(10 * time.Second)
			for _, s := range r.stable {
				s.set(func(u *httpsplit.Usage) { u.CPUSeconds += 5 })
			}
			r.canary[0].set(func(u *httpsplit.Usage) { u.CPUSeconds += 20; u.MemoryBytes += 10e6 })
		}
		if err := r.mon.Sample(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func rq(text string, window time.Duration, end time.Time) metrics.Query {
	return metrics.Query{Text: text, Window: window, End: end}
}

func TestResourceMonitorValues(t *testing.T) {
	r := newResourceRig(t)
	end := rt0.Add(30 * time.Second)
	for _, c := range []struct {
		text   string
		window time.Duration
		want   float64
	}{
		{"cpu canary", 30 * time.Second, 2},
		{`cpu{version="stable"}`, 30 * time.Second, 1},
		{"cpu canary", 40 * time.Second, 2}, // includes the sample at rt0
		{"memory canary", 30 * time.Second, 230e6},
		{"memory stable", 30 * time.Second, 200e6},
		{"replicas stable", 30 * time.Second, 2},
		{"replicas canary", 30 * time.Second, 1},
		{"restarts canary", 30 * time.Second, 0},
	} {
		res, err := r.mon.Query(context.Background(), rq(c.text, c.window, end))
		if err != nil {
			t.Errorf("%s: %v", c.text, err)
			continue
		}
		if math.Abs(res.Value-c.want) > 1e-9 {
			t.Errorf("%s over %v = %v, want %v", c.text, c.window, res.Value, c.want)
		}
	}
}

func TestResourceMonitorRestart(t *testing.T) {
	r := newResourceRig(t)
	// The canary restarts: a new process, its CPU counter from zero.
	r.clock.Advance(10 * time.Second)
	r.canary[0].set(func(u *httpsplit.Usage) { u.Started, u.CPUSeconds = rt0.Add(35*time.Second), 1 })
	if err := r.mon.Sample(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(10 * time.Second)
	r.canary[0].set(func(u *httpsplit.Usage) { u.CPUSeconds += 30 })
	if err := r.mon.Sample(context.Background()); err != nil {
		t.Fatal(err)
	}
	end := rt0.Add(50 * time.Second)
	got := func(text string) float64 {
		res, err := r.mon.Query(context.Background(), rq(text, 30*time.Second, end))
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		return res.Value
	}
	if n := got("restarts canary"); n != 1 {
		t.Errorf("restarts canary = %v, want 1", n)
	}
	// Only the new process's samples count: 30 CPU seconds in 10 s.
	if c := got("cpu canary"); c != 3 {
		t.Errorf("cpu canary across a restart = %v, want 3 (the new process only)", c)
	}
}

func TestResourceMonitorNoData(t *testing.T) {
	r := newResourceRig(t)
	for _, q := range []metrics.Query{
		rq("cpu canary", 30*time.Second, rt0.Add(-time.Minute)),   // before any sample
		rq("cpu canary", 5*time.Second, rt0.Add(30*time.Second)),  // one sample: no rate
		rq("memory stable", 30*time.Second, rt0.Add(2*time.Hour)), // long after
	} {
		if _, err := r.mon.Query(context.Background(), q); !errors.Is(err, metrics.ErrNoData) {
			t.Errorf("Query(%+v) = %v, want metrics.ErrNoData", q, err)
		}
	}
}

func TestResourceMonitorRefuses(t *testing.T) {
	r := newResourceRig(t)
	for _, text := range []string{"", "cpu", "disk canary", "cpu mirror", "cpu{version=canary}"} {
		var fe *canary.FieldError
		if _, err := r.mon.Query(context.Background(), rq(text, time.Minute, rt0)); !errors.As(err, &fe) {
			t.Errorf("Query(%q) = %v, want a *canary.FieldError", text, err)
		}
	}
	for _, c := range []httpsplit.ResourceMonitorConfig{
		{},
		{Canary: []string{"ftp://x"}},
		{Canary: []string{"http://user:pw@host/"}},
		{Canary: []string{"http://host/"}, Retention: -time.Second},
	} {
		var fe *canary.FieldError
		if _, err := httpsplit.NewResourceMonitor(c); !errors.As(err, &fe) {
			t.Errorf("NewResourceMonitor(%+v) = %v, want a *canary.FieldError", c, err)
		} else if fe.Value != nil && len(c.Canary) > 0 && c.Retention == 0 {
			t.Errorf("the refused value is shown (it may hold a password): %v", fe)
		}
	}
}

func TestResourceMonitorBackendDown(t *testing.T) {
	r := newResourceRig(t)
	r.stable[1].set(func(*httpsplit.Usage) {})
	r.stable[1].mu.Lock()
	r.stable[1].fail = true
	r.stable[1].mu.Unlock()
	r.clock.Advance(10 * time.Second)
	if err := r.mon.Sample(context.Background()); err == nil {
		t.Error("a back end that answered 503 gave no error")
	}
	res, err := r.mon.Query(context.Background(), rq("replicas stable", 5*time.Second, rt0.Add(40*time.Second)))
	if err != nil || res.Value != 1 {
		t.Errorf("replicas stable after one went down = (%v, %v), want 1", res.Value, err)
	}
}

func TestResourceMonitorSelf(t *testing.T) {
	srv := httptest.NewServer(httpsplit.ResourceHandler(nil))
	t.Cleanup(srv.Close)
	c := newClock(rt0)
	mon, err := httpsplit.NewResourceMonitor(httpsplit.ResourceMonitorConfig{Canary: []string{srv.URL}, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := mon.Sample(context.Background()); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Second)
	}
	cpu, err := mon.Query(context.Background(), rq("cpu canary", time.Minute, rt0.Add(time.Second)))
	if err != nil || cpu.Value < 0 {
		t.Errorf("this process's cpu = (%v, %v), want a figure ≥ 0", cpu.Value, err)
	}
	mem, err := mon.Query(context.Background(), rq("memory canary", time.Minute, rt0.Add(time.Second)))
	if err != nil || mem.Value <= 0 {
		t.Errorf("this process's memory = (%v, %v), want a figure > 0", mem.Value, err)
	}
	if u := httpsplit.SelfUsage(); u.CPUSeconds <= 0 || u.Started.IsZero() {
		t.Errorf("SelfUsage() = %+v", u)
	}
}

func TestResourceMonitorConformance(t *testing.T) {
	metricstest.Run(t, func(ctx context.Context, t *testing.T) metricstest.Fixture {
		r := newResourceRig(t)
		return metricstest.Fixture{
			Provider:  r.mon,
			Value:     rq("cpu canary", 30*time.Second, rt0.Add(30*time.Second)),
			Want:      2,
			Tolerance: 1e-9,
			Empty:     rq("cpu canary", 30*time.Second, rt0.Add(-time.Hour)),
		}
	})
}
