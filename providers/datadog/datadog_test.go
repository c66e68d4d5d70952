package datadog_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	dd "github.com/DataDog/datadog-api-client-go/v2/api/datadog"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/metrics/metricstest"
	"github.com/meshcanary/canary/providers/datadog"
)

func q(text string) metrics.Query {
	return metrics.Query{Text: text, Window: testWindow, End: testEnd}
}

func newProvider(t *testing.T, s *server, mod func(*datadog.Config)) *datadog.Provider {
	t.Helper()
	cfg := datadog.Config{APIKey: testAPIKey, AppKey: testAppKey, BaseURL: s.srv.URL}
	if mod != nil {
		mod(&cfg)
	}
	p, err := datadog.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func TestConformance(t *testing.T) {
	metricstest.Run(t, func(ctx context.Context, t *testing.T) metricstest.Fixture {
		s := newServer(t)
		s.anyWindow = true // the range tests ask other windows; steadyAnswer checks the buckets
		s.handle("sum:requests.error{service:web,version:v2}", steadyAnswer(0.42))
		s.handle("sum:requests.error{service:idle}", emptyAnswer)
		s.handle("sum:requests.error{service:web}/sum:requests.total{service:web}", nullAnswer)
		s.handle("sum:requests.error{service:web} by {version}", func(t *testing.T, w http.ResponseWriter, _ *http.Request, _ string, _ request, _ int) {
			writeJSON(w, http.StatusOK, scalarBody([]string{"v1", "v2"}, f(1), f(2)))
		})
		s.handle("avg:bogus{", errorAnswer(http.StatusBadRequest, "Error parsing query: unexpected end of input"))
		s.handle("sum:slow{service:web}", slowAnswer)
		start := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
		return metricstest.Fixture{
			Source:    newProvider(t, s, func(c *datadog.Config) { c.Samples = true }).Source(),
			Value:     q("sum:requests.error{service:web,version:v2}"),
			Want:      0.42,
			Tolerance: 1e-9,
			Empty:     q("sum:requests.error{service:idle}"),
			// Datadog's JSON has no NaN: it answers 0/0 with null.
			NaN:     q("sum:requests.error{service:web}/sum:requests.total{service:web}"),
			Several: q("sum:requests.error{service:web} by {version}"),
			Failing: q("avg:bogus{"),
			Target:  new(dd.GenericOpenAPIError),
			Slow:    q("sum:slow{service:web}"),
			Range: metrics.RangeQuery{Text: "sum:requests.error{service:web,version:v2}", Window: time.Minute, Step: time.Minute,
				Start: start, End: start.Add(10 * time.Minute)},
		}
	})
}

func TestCompletePointsOnly(t *testing.T) {
	s := newServer(t)
	// 09:25:53 to 09:26:53 at 15 s: buckets start 09:25:45 (partial),
	// :26:00, :26:15, :26:30 (complete) and :26:45 (partial).
	s.handle("avg:latency{service:web}", valueAnswer(7, 1000, -1000, 1, 2, 3))
	p := newProvider(t, s, func(c *datadog.Config) { c.Samples = true })
	r, err := p.Query(context.Background(), q("avg:latency{service:web}"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Value != 7 {
		t.Errorf("Value = %v, want the scalar answer 7", r.Value)
	}
	if want := []float64{1, 2, 3}; !equal(r.Samples, want) {
		t.Errorf("Samples = %v, want the complete points %v and neither partial bucket", r.Samples, want)
	}

	latest := newProvider(t, s, func(c *datadog.Config) { c.Value = datadog.LatestPoint })
	before := s.count("avg:latency{service:web}")
	r, err = latest.Query(context.Background(), q("avg:latency{service:web}"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Value != 3 {
		t.Errorf("LatestPoint Value = %v, want 3: the latest complete point, not the partial newest (-1000) or the oldest (1000)", r.Value)
	}
	if r.Samples != nil {
		t.Errorf("Samples = %v without Config.Samples, want nil", r.Samples)
	}
	if n := s.count("avg:latency{service:web}") - before; n != 1 {
		t.Errorf("LatestPoint sent %d requests, want 1 (timeseries only)", n)
	}
}

func TestAlignedWindowKeepsEdgeBuckets(t *testing.T) {
	s := newServer(t)
	end := time.Date(2026, 3, 14, 9, 27, 0, 0, time.UTC) // on a 15 s boundary
	s.setWindow(end, time.Minute)
	s.handle("avg:cpu{service:web}", func(t *testing.T, w http.ResponseWriter, _ *http.Request, kind string, req request, _ int) {
		a := req.Data.Attributes
		ts := buckets(a.From, a.To, *a.Interval)
		if len(ts) != 4 {
			t.Errorf("test set-up: %d buckets, want 4", len(ts))
		}
		writeJSON(w, http.StatusOK, timeseriesBody(ts, []*float64{f(1), nil, f(3), f(4)}))
	})
	p := newProvider(t, s, func(c *datadog.Config) { c.Value = datadog.LatestPoint; c.Samples = true })
	r, err := p.Query(context.Background(), metrics.Query{Text: "avg:cpu{service:web}", Window: time.Minute, End: end})
	if err != nil {
		t.Fatal(err)
	}
	if r.Value != 4 || !equal(r.Samples, []float64{1, 3, 4}) {
		t.Errorf("got value %v samples %v, want 4 and [1 3 4] (all four buckets complete, the null skipped)", r.Value, r.Samples)
	}
}

func TestNullsAndGroups(t *testing.T) {
	s := newServer(t)
	s.handle("null", nullAnswer)
	s.handle("groups", func(t *testing.T, w http.ResponseWriter, _ *http.Request, _ string, _ request, _ int) {
		writeJSON(w, http.StatusOK, scalarBody([]string{"web", "api"}, f(1), f(2)))
	})
	s.handle("inline", func(t *testing.T, w http.ResponseWriter, _ *http.Request, _ string, _ request, _ int) {
		writeJSON(w, http.StatusOK, map[string]any{"errors": "metric not found: requests.bogus"})
	})
	s.handle("zero", func(t *testing.T, w http.ResponseWriter, _ *http.Request, _ string, _ request, _ int) {
		writeJSON(w, http.StatusOK, scalarBody(nil, f(0)))
	})
	p := newProvider(t, s, nil)
	ctx := context.Background()
	if r, err := p.Query(ctx, q("null")); !errors.Is(err, metrics.ErrNoData) {
		t.Errorf("null scalar = (%+v, %v), want ErrNoData", r, err)
	}
	if r, err := newProvider(t, s, func(c *datadog.Config) { c.Value = datadog.LatestPoint }).Query(ctx, q("null")); !errors.Is(err, metrics.ErrNoData) {
		t.Errorf("all-null timeseries = (%+v, %v), want ErrNoData", r, err)
	}
	if r, err := p.Query(ctx, q("zero")); err != nil || r.Value != 0 {
		t.Errorf("zero = (%+v, %v), want a real 0", r, err)
	}
	if _, err := p.Query(ctx, q("groups")); !errors.Is(err, datadog.ErrMultipleSeries) {
		t.Errorf("two groups = %v, want ErrMultipleSeries", err)
	}
	s.handle("two series", func(t *testing.T, w http.ResponseWriter, _ *http.Request, _ string, req request, _ int) {
		a := req.Data.Attributes
		ts := buckets(a.From, a.To, *a.Interval)
		one := make([]*float64, len(ts))
		writeJSON(w, http.StatusOK, timeseriesBody(ts, one, one))
	})
	latest := newProvider(t, s, func(c *datadog.Config) { c.Value = datadog.LatestPoint })
	if _, err := latest.Query(ctx, q("two series")); !errors.Is(err, datadog.ErrMultipleSeries) {
		t.Errorf("two timeseries = %v, want ErrMultipleSeries", err)
	}
	_, err := p.Query(ctx, q("inline"))
	var e *datadog.Error
	if !errors.As(err, &e) || !strings.Contains(err.Error(), "metric not found") || errors.Is(err, metrics.ErrNoData) {
		t.Errorf("errors field in a 200 answer = %v, want a *datadog.Error with the message", err)
	}
}

func TestSites(t *testing.T) {
	for _, tc := range []struct{ site, host string }{
		{"", "api.datadoghq.com"},
		{datadog.SiteEU1, "api.datadoghq.eu"},
		{datadog.SiteUS3, "api.us3.datadoghq.com"},
		{datadog.SiteUS5, "api.us5.datadoghq.com"},
		{datadog.SiteAP1, "api.ap1.datadoghq.com"},
		{datadog.SiteGov, "api.ddog-gov.com"},
	} {
		t.Run(tc.host, func(t *testing.T) {
			s := newServer(t)
			s.handle("avg:cpu{*}", valueAnswer(5, 0, 0, 0, 0, 0))
			rt := &redirect{to: s.srv.URL}
			p, err := datadog.New(datadog.Config{APIKey: testAPIKey, AppKey: testAppKey, Site: tc.site,
				HTTPClient: &http.Client{Transport: rt}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Query(context.Background(), q("avg:cpu{*}")); err != nil {
				t.Fatal(err)
			}
			if got := rt.hosts(); len(got) != 1 || got[0] != "https://"+tc.host {
				t.Errorf("requests went to %v, want https://%s", got, tc.host)
			}
		})
	}
}

// redirect records where the client meant to send a request and sends it to
// the local server instead.
type redirect struct {
	to   string
	mu   sync.Mutex
	seen []string
}

func (r *redirect) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.seen = append(r.seen, req.URL.Scheme+"://"+req.URL.Host)
	r.mu.Unlock()
	out := req.Clone(req.Context())
	u := *req.URL
	u.Scheme, u.Host = "http", strings.TrimPrefix(r.to, "http://")
	out.URL, out.Host = &u, ""
	return http.DefaultTransport.RoundTrip(out)
}

func (r *redirect) hosts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

func TestRateLimit(t *testing.T) {
	t.Run("WaitsForReset", func(t *testing.T) {
		s := newServer(t)
		s.handle("rl", rateLimited(1, "1", 9))
		var logs bytes.Buffer
		p := newProvider(t, s, func(c *datadog.Config) { c.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
		start := time.Now()
		r, err := p.Query(context.Background(), q("rl"))
		if err != nil || r.Value != 9 {
			t.Fatalf("Query = (%+v, %v), want 9 after one retry", r, err)
		}
		if waited := time.Since(start); waited < time.Second {
			t.Errorf("retried after %v; X-RateLimit-Reset asked for 1s", waited)
		}
		if n := s.count("rl"); n != 2 {
			t.Errorf("%d requests, want 2", n)
		}
		if !strings.Contains(logs.String(), "rate limited") {
			t.Errorf("no log line for the wait: %q", logs.String())
		}
	})
	t.Run("ResetBeyondMaxWait", func(t *testing.T) {
		s := newServer(t)
		s.handle("rl", rateLimited(10, "120", 9))
		p := newProvider(t, s, func(c *datadog.Config) { c.MaxWait = 10 * time.Second })
		start := time.Now()
		_, err := p.Query(context.Background(), q("rl"))
		var e *datadog.Error
		if !errors.Is(err, datadog.ErrRateLimited) || !errors.As(err, &e) || e.RetryAfter != 2*time.Minute {
			t.Fatalf("Query = %v, want ErrRateLimited with RetryAfter 2m", err)
		}
		if waited := time.Since(start); waited > 5*time.Second {
			t.Errorf("waited %v for a reset it would not honour", waited)
		}
		if n := s.count("rl"); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
	})
	t.Run("BoundedRetries", func(t *testing.T) {
		s := newServer(t)
		s.handle("rl", rateLimited(100, "0", 9))
		p := newProvider(t, s, func(c *datadog.Config) { c.MaxRetries = 2 })
		_, err := p.Query(context.Background(), q("rl"))
		if !errors.Is(err, datadog.ErrRateLimited) {
			t.Fatalf("Query = %v, want ErrRateLimited", err)
		}
		if n := s.count("rl"); n != 3 {
			t.Errorf("%d requests, want 3 (one and two retries)", n)
		}
	})
	t.Run("ResetPastDeadline", func(t *testing.T) {
		s := newServer(t)
		s.handle("rl", rateLimited(10, "5", 9))
		p := newProvider(t, s, nil)
		// 2 s: the first answer fits in it even on a loaded machine; the
		// reset (5 s) does not.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := p.Query(ctx, q("rl"))
		if !errors.Is(err, datadog.ErrRateLimited) {
			t.Fatalf("Query = %v, want ErrRateLimited at once (the reset is past the deadline)", err)
		}
		if n := s.count("rl"); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
	})
}

func TestSecretsNeverLeak(t *testing.T) {
	s := newServer(t)
	echo := "Forbidden: API key " + testAPIKey + " is not valid with application key " + testAppKey
	s.handle("forbidden", errorAnswer(http.StatusForbidden, echo))
	s.handle("unauthorized", errorAnswer(http.StatusUnauthorized, "Unauthorized "+testAPIKey))
	s.handle("inline", func(t *testing.T, w http.ResponseWriter, _ *http.Request, _ string, _ request, _ int) {
		writeJSON(w, http.StatusOK, map[string]any{"errors": "bad key " + testAppKey})
	})
	s.handle("rl", rateLimited(1, "0", 1))
	var logs bytes.Buffer
	p := newProvider(t, s, func(c *datadog.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.Samples = true
	})
	ctx := context.Background()
	var texts []string
	for _, query := range []string{"forbidden", "unauthorized", "inline"} {
		_, err := p.Query(ctx, q(query))
		if err == nil {
			t.Fatalf("%s: no error", query)
		}
		texts = append(texts, err.Error(), strings.ReplaceAll(err.Error(), "\n", " "))
		var native dd.GenericOpenAPIError
		if errors.As(err, &native) {
			texts = append(texts, string(native.Body()), native.Error())
		}
		var e *datadog.Error
		if errors.As(err, &e) {
			texts = append(texts, strings.Join(e.Messages, " "))
		}
		if query != "inline" && !errors.Is(err, datadog.ErrUnauthorized) {
			t.Errorf("%s: %v, want ErrUnauthorized", query, err)
		}
		if query == "forbidden" && !strings.Contains(err.Error(), "403") {
			t.Errorf("error %q does not say 403", err)
		}
	}
	s.handle("rl", rateLimited(1, "0", 1))
	_, _ = p.Query(ctx, q("rl"))
	texts = append(texts, logs.String())
	if !strings.Contains(logs.String(), "rate limited") {
		t.Errorf("expected a rate-limit log line, got %q", logs.String())
	}
	if !strings.Contains(strings.Join(texts, "\n"), "[REDACTED]") {
		t.Errorf("the echoed keys were not replaced by [REDACTED]: %q", texts)
	}
	for _, text := range texts {
		for _, key := range []string{testAPIKey, testAppKey} {
			if strings.Contains(text, key) {
				t.Errorf("a key leaked into %q", text)
			}
		}
	}
}

func TestBadInputSendsNothing(t *testing.T) {
	s := newServer(t)
	p := newProvider(t, s, nil)
	tmpl := metrics.MustParse(metrics.Datadog, "errors", "sum:trace.http.request.errors{service:{{service}},version:{{version}}}.as_count()")
	ctx := context.Background()

	var errs []error
	for _, hostile := range []string{"web}", "web,version:v1", "web} or sum:other{*", "web\nx", "", "we b", `web"`} {
		_, err := datadog.Render(tmpl, metrics.Vars{Service: hostile, Version: "v2"})
		errs = append(errs, err)
	}
	_, err := datadog.Render(metrics.MustParse(metrics.PromQL, "p", `sum(x{app="{{service}}"})`), metrics.Vars{Service: "web"})
	errs = append(errs, err)
	for _, bq := range []metrics.Query{
		{Text: "avg:cpu{*}", Window: 0, End: testEnd},
		{Text: "avg:cpu{*}", Window: 10 * time.Second, End: testEnd},
		{Text: "avg:cpu{*}", Window: time.Minute + time.Microsecond, End: testEnd},
		{Text: "avg:cpu{*}", Window: -time.Minute, End: testEnd},
		{Text: "", Window: time.Minute, End: testEnd},
		{Text: "avg:cpu{*}", Window: time.Minute},
	} {
		_, err := p.Query(ctx, bq)
		errs = append(errs, err)
	}
	coarse := newProvider(t, s, func(c *datadog.Config) { c.Resolution = 5 * time.Minute })
	_, err = coarse.Query(ctx, q("avg:cpu{*}"))
	errs = append(errs, err)

	for _, cfg := range []datadog.Config{
		{AppKey: testAppKey},
		{APIKey: testAPIKey},
		{APIKey: testAPIKey, AppKey: testAppKey, Site: "datadoghq.co.uk"},
		{APIKey: testAPIKey, AppKey: testAppKey, Site: "evil.example.com"},
		{APIKey: testAPIKey, AppKey: testAppKey, BaseURL: "ftp://127.0.0.1"},
		{APIKey: testAPIKey, AppKey: testAppKey, BaseURL: "http://user:pw@127.0.0.1"},
		{APIKey: testAPIKey, AppKey: testAppKey, Aggregator: "median"},
		{APIKey: testAPIKey, AppKey: testAppKey, Resolution: 1500 * time.Millisecond},
		{APIKey: testAPIKey, AppKey: testAppKey, Value: 7},
		{APIKey: testAPIKey, AppKey: testAppKey, MaxWait: -time.Second},
		{APIKey: testAPIKey + "\n", AppKey: testAppKey},
	} {
		_, err := datadog.New(cfg)
		errs = append(errs, err)
	}
	var zero datadog.Provider
	_, err = zero.Query(ctx, q("x"))
	errs = append(errs, err)
	for i, err := range errs {
		var fe *canary.FieldError
		if !errors.As(err, &fe) || !errors.Is(err, canary.ErrInvalid) || fe.Field == "" {
			t.Errorf("case %d: %v, want a *canary.FieldError naming the field", i, err)
			continue
		}
		for _, key := range []string{testAPIKey, testAppKey, "pw@"} {
			if strings.Contains(err.Error(), key) {
				t.Errorf("case %d: %q shows a secret", i, err)
			}
		}
	}
	if n := s.requests.Load(); n != 0 {
		t.Errorf("%d requests reached the server; bad input must be refused before any", n)
	}
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
