package newrelic_test

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

	nrerrors "github.com/newrelic/newrelic-client-go/v2/pkg/errors"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/metrics/metricstest"
	"github.com/meshcanary/canary/providers/newrelic"
)

func q(text string) metrics.Query {
	return metrics.Query{Text: text, Window: testWindow, End: testEnd}
}

func newProvider(t *testing.T, s *server, mod func(*newrelic.Config)) *newrelic.Provider {
	t.Helper()
	cfg := newrelic.Config{APIKey: testKey, AccountID: testAccount, BaseURL: s.srv.URL + "/graphql"}
	if mod != nil {
		mod(&cfg)
	}
	p, err := newrelic.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

const (
	errorRate = "SELECT percentage(count(*), WHERE error IS true) AS 'value', count(*) AS 'count' FROM Transaction WHERE appName = 'web' AND version = 'v2'"
	idle      = "SELECT average(duration) FROM Transaction WHERE appName = 'idle'"
	quiet     = "SELECT average(duration) FROM Transaction WHERE appName = 'quiet'"
	faceted   = "SELECT percentage(count(*), WHERE error IS true) AS 'value' FROM Transaction FACET version"
)

func TestConformance(t *testing.T) {
	metricstest.Run(t, func(ctx context.Context, t *testing.T) metricstest.Fixture {
		s := newServer(t)
		s.anyWindow = true // the range tests ask other windows
		s.handle(errorRate, s.steady(map[string]any{"value": 1.25, "count": 800.0}))
		s.handle(idle, rowsAnswer())
		// NRQL has no NaN on the wire: an average over no events is null.
		s.handle(quiet, rowsAnswer(map[string]any{"average.duration": nil}))
		s.handle(faceted, rowsAnswer(map[string]any{"facet": "v1", "value": 1.0}, map[string]any{"facet": "v2", "value": 2.0}))
		s.handle("SELECT bogus(", statusAnswer(http.StatusBadRequest, gqlErrors("Bad request")))
		s.handle("SELECT count(*) FROM Slow", slowAnswer)
		start := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
		return metricstest.Fixture{
			Source:    newProvider(t, s, nil).Source(),
			Value:     q(errorRate),
			Want:      1.25,
			Tolerance: 1e-9,
			Empty:     q(idle),
			NaN:       q(quiet),
			Several:   q(faceted),
			Failing:   q("SELECT bogus("),
			Target:    new(*nrerrors.UnexpectedStatusCode),
			Slow:      q("SELECT count(*) FROM Slow"),
			Range:     metrics.RangeQuery{Text: errorRate, Window: testWindow, Step: testWindow, Start: start, End: start.Add(10 * testWindow)},
		}
	})
}

func TestRowShapes(t *testing.T) {
	s := newServer(t)
	s.handle("value+count", rowsAnswer(map[string]any{"value": 0.5, "count": 1200.0}))
	s.handle("single", rowsAnswer(map[string]any{"average.duration": 0.125}))
	s.handle("percentile", rowsAnswer(map[string]any{"percentile.duration": map[string]any{"95": 0.31}}))
	s.handle("two percentiles", rowsAnswer(map[string]any{"percentile.duration": map[string]any{"95": 0.31, "99": 0.9}}))
	s.handle("two fields", rowsAnswer(map[string]any{"average.duration": 0.1, "max.duration": 2.0}))
	s.handle("strings only", rowsAnswer(map[string]any{"latest.appName": "web"}))
	s.handle("null value", rowsAnswer(map[string]any{"value": nil, "count": 0.0}))
	s.handle("zero", rowsAnswer(map[string]any{"count": 0.0}))
	s.handle("two rows", rowsAnswer(map[string]any{"facet": "a", "count": 1.0}, map[string]any{"facet": "b", "count": 2.0}))
	s.handle("graphql error", statusAnswer(http.StatusOK, gqlErrors("NRQL Syntax Error: Error at line 1 position 7")))
	p := newProvider(t, s, nil)
	ctx := context.Background()

	for _, tc := range []struct {
		nrql  string
		value float64
		count int64
	}{
		{"value+count", 0.5, 1200},
		{"single", 0.125, 0},
		{"percentile", 0.31, 0},
		{"zero", 0, 0},
	} {
		r, err := p.Query(ctx, q(tc.nrql))
		if err != nil || r.Value != tc.value || r.Count != tc.count {
			t.Errorf("%s = (%+v, %v), want value %v count %d", tc.nrql, r, err, tc.value, tc.count)
		}
	}
	for _, nrql := range []string{"two percentiles", "two fields", "strings only"} {
		if r, err := p.Query(ctx, q(nrql)); err == nil || errors.Is(err, metrics.ErrNoData) {
			t.Errorf("%s = (%+v, %v), want an error that is not no-data", nrql, r, err)
		}
	}
	if _, err := p.Query(ctx, q("two fields")); err == nil || !strings.Contains(err.Error(), "AS 'value'") {
		t.Errorf("two fields: %v, want advice to name the value AS 'value'", err)
	}
	if r, err := p.Query(ctx, q("null value")); !errors.Is(err, metrics.ErrNoData) {
		t.Errorf("null value = (%+v, %v), want ErrNoData", r, err)
	}
	if _, err := p.Query(ctx, q("two rows")); !errors.Is(err, newrelic.ErrMultipleRows) {
		t.Errorf("two rows = %v, want ErrMultipleRows", err)
	}
	_, err := p.Query(ctx, q("graphql error"))
	var e *newrelic.Error
	if !errors.As(err, &e) || !strings.Contains(err.Error(), "NRQL Syntax Error") || errors.Is(err, metrics.ErrNoData) {
		t.Errorf("GraphQL error = %v, want a *newrelic.Error carrying the message", err)
	}
}

func TestQueryFacets(t *testing.T) {
	s := newServer(t)
	byVersion := "SELECT percentage(count(*), WHERE error IS true) AS 'value', count(*) AS 'count' FROM Transaction WHERE appName = 'web' FACET version"
	s.handle(byVersion, rowsAnswer(
		map[string]any{"facet": "v1", "version": "v1", "value": 0.5, "count": 1000.0},
		map[string]any{"facet": "v2", "version": "v2", "value": 2.5, "count": 40.0},
		map[string]any{"facet": "v3", "version": "v3", "value": nil, "count": 0.0},
	))
	s.handle("two facets", rowsAnswer(map[string]any{"facet": []any{"web", "v1"}, "appName": "web", "version": "v1", "average.duration": 0.2}))
	s.handle("no facet", rowsAnswer(map[string]any{"count": 3.0}))
	s.handle("all null", rowsAnswer(map[string]any{"facet": "v1", "value": nil}))
	p := newProvider(t, s, nil)
	ctx := context.Background()
	got, err := p.QueryFacets(ctx, q(byVersion))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]metrics.Result{"v1": {Value: 0.5, Count: 1000}, "v2": {Value: 2.5, Count: 40}}
	if len(got) != len(want) || got["v1"].Value != 0.5 || got["v1"].Count != 1000 || got["v2"].Value != 2.5 || got["v2"].Count != 40 {
		t.Errorf("QueryFacets = %+v, want %+v (v3 is null: left out)", got, want)
	}
	got, err = p.QueryFacets(ctx, q("two facets"))
	if err != nil || len(got) != 1 || got["web, v1"].Value != 0.2 {
		t.Errorf("two facets = (%+v, %v), want {\"web, v1\": 0.2}", got, err)
	}
	if _, err := p.QueryFacets(ctx, q("no facet")); err == nil || !strings.Contains(err.Error(), "FACET") {
		t.Errorf("no facet = %v, want an error asking for a FACET query", err)
	}
	if _, err := p.QueryFacets(ctx, q("all null")); !errors.Is(err, metrics.ErrNoData) {
		t.Errorf("all null = %v, want ErrNoData", err)
	}
}

func TestTimeRange(t *testing.T) {
	s := newServer(t)
	quoted := "SELECT count(*) FROM Transaction WHERE name = 'since until -- /*' AND `timeseries` IS NOT NULL AND duration > -1"
	s.handle(quoted, rowsAnswer(map[string]any{"count": 7.0}))
	p := newProvider(t, s, nil)
	nrql, err := p.NRQL(q(quoted))
	if err != nil {
		t.Fatal(err)
	}
	// 09:24:53.250 to 09:26:53.250 UTC on 14 March 2026, in epoch ms.
	if want := quoted + " SINCE 1773480293250 UNTIL 1773480413250"; nrql != want {
		t.Errorf("NRQL = %q, want %q", nrql, want)
	}
	if r, err := p.Query(context.Background(), q(quoted)); err != nil || r.Value != 7 {
		t.Errorf("words inside quotes are not clauses: (%+v, %v), want 7", r, err)
	}
}

func TestRegions(t *testing.T) {
	for _, tc := range []struct{ region, url string }{
		{"", "https://api.newrelic.com/graphql"},
		{"US", "https://api.newrelic.com/graphql"},
		{"EU", "https://api.eu.newrelic.com/graphql"},
		{"eu", "https://api.eu.newrelic.com/graphql"},
	} {
		t.Run(tc.region, func(t *testing.T) {
			s := newServer(t)
			s.handle("SELECT count(*) FROM Transaction", rowsAnswer(map[string]any{"count": 3.0}))
			rt := &redirect{to: s.srv.URL}
			p, err := newrelic.New(newrelic.Config{APIKey: testKey, AccountID: testAccount, Region: tc.region, Transport: rt})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Query(context.Background(), q("SELECT count(*) FROM Transaction")); err != nil {
				t.Fatal(err)
			}
			if got := rt.urls(); len(got) != 1 || got[0] != tc.url {
				t.Errorf("requests went to %v, want %s", got, tc.url)
			}
		})
	}
}

func TestRegionIgnoresEnvironmentURL(t *testing.T) {
	// The client would take NerdGraph's URL from this variable; the
	// provider's Region and BaseURL decide instead.
	t.Setenv("NEW_RELIC_NERDGRAPH_BASE_URL", "http://127.0.0.1:1/graphql")
	s := newServer(t)
	s.handle("SELECT count(*) FROM Transaction", rowsAnswer(map[string]any{"count": 3.0}))
	rt := &redirect{to: s.srv.URL}
	p, err := newrelic.New(newrelic.Config{APIKey: testKey, AccountID: testAccount, Region: newrelic.RegionEU, Transport: rt})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Query(context.Background(), q("SELECT count(*) FROM Transaction")); err != nil {
		t.Fatal(err)
	}
	if got := rt.urls(); len(got) != 1 || got[0] != "https://api.eu.newrelic.com/graphql" {
		t.Errorf("requests went to %v, want the EU endpoint", got)
	}
}

// redirect records where the client meant to send a request and sends it
// to the local server instead.
type redirect struct {
	to   string
	mu   sync.Mutex
	seen []string
}

func (r *redirect) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.seen = append(r.seen, req.URL.String())
	r.mu.Unlock()
	out := req.Clone(req.Context())
	u := *req.URL
	u.Scheme, u.Host = "http", strings.TrimPrefix(r.to, "http://")
	out.URL, out.Host = &u, ""
	return http.DefaultTransport.RoundTrip(out)
}

func (r *redirect) urls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

func TestRateLimitAndServerErrors(t *testing.T) {
	const nrql = "SELECT count(*) FROM Transaction"
	t.Run("WaitsForRetryAfter", func(t *testing.T) {
		s := newServer(t)
		s.handle(nrql, rateLimited(1, "1", map[string]any{"count": 9.0}))
		var logs bytes.Buffer
		p := newProvider(t, s, func(c *newrelic.Config) { c.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
		start := time.Now()
		r, err := p.Query(context.Background(), q(nrql))
		if err != nil || r.Value != 9 {
			t.Fatalf("Query = (%+v, %v), want 9 after one retry", r, err)
		}
		if waited := time.Since(start); waited < time.Second {
			t.Errorf("retried after %v; Retry-After asked for 1s", waited)
		}
		if n := s.count(nrql); n != 2 {
			t.Errorf("%d requests, want 2", n)
		}
		if !strings.Contains(logs.String(), "rate limited") {
			t.Errorf("no log line for the wait: %q", logs.String())
		}
	})
	t.Run("WaitBeyondMaxWait", func(t *testing.T) {
		s := newServer(t)
		s.handle(nrql, rateLimited(10, "120", map[string]any{"count": 9.0}))
		p := newProvider(t, s, func(c *newrelic.Config) { c.MaxWait = 10 * time.Second })
		start := time.Now()
		_, err := p.Query(context.Background(), q(nrql))
		var e *newrelic.Error
		if !errors.Is(err, newrelic.ErrRateLimited) || !errors.As(err, &e) || e.RetryAfter != 2*time.Minute || e.StatusCode != 429 {
			t.Fatalf("Query = %v, want ErrRateLimited (429) with RetryAfter 2m", err)
		}
		if waited := time.Since(start); waited > 5*time.Second {
			t.Errorf("waited %v for a limit it would not honour", waited)
		}
		if n := s.count(nrql); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
	})
	t.Run("TooManyRequestsInGraphQL", func(t *testing.T) {
		s := newServer(t)
		s.handle(nrql, func(t *testing.T, w http.ResponseWriter, _ *http.Request, _ int) {
			w.Header().Set("X-RateLimit-Reset", "0")
			writeJSON(w, http.StatusOK, map[string]any{"errors": []any{map[string]any{
				"message":    "Too many requests for account",
				"extensions": map[string]any{"errorClass": "TOO_MANY_REQUESTS"},
			}}})
		})
		p := newProvider(t, s, func(c *newrelic.Config) { c.MaxRetries = 2 })
		_, err := p.Query(context.Background(), q(nrql))
		if !errors.Is(err, newrelic.ErrRateLimited) {
			t.Fatalf("Query = %v, want ErrRateLimited", err)
		}
		if n := s.count(nrql); n != 3 {
			t.Errorf("%d requests, want 3 (one and two retries)", n)
		}
	})
	t.Run("ServerErrorFailsAtOnce", func(t *testing.T) {
		s := newServer(t)
		s.handle(nrql, statusAnswer(http.StatusServiceUnavailable, gqlErrors("Service Unavailable")))
		s.handle("SELECT timeout", statusAnswer(http.StatusOK, map[string]any{"errors": []any{map[string]any{
			"message": "NRDB query duration exceeded", "extensions": map[string]any{"errorClass": "TIMEOUT"},
		}}}))
		p := newProvider(t, s, nil)
		_, err := p.Query(context.Background(), q(nrql))
		var e *newrelic.Error
		if !errors.As(err, &e) || e.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("503 = %v, want a *newrelic.Error with status 503", err)
		}
		_, err = p.Query(context.Background(), q("SELECT timeout"))
		if !errors.As(err, &e) || !strings.Contains(err.Error(), "duration exceeded") {
			t.Errorf("TIMEOUT = %v, want a *newrelic.Error with the message", err)
		}
		// The client's own retries would each reach the server: counting
		// requests shows they did not run, whatever the machine's speed (a
		// bound on the elapsed time, 900 ms against the client's 1 s
		// back-off, could fail on a loaded machine).
		if n := s.count(nrql) + s.count("SELECT timeout"); n != 2 {
			t.Errorf("%d requests, want 2 (no retries)", n)
		}
	})
}

func TestCancelStopsRequests(t *testing.T) {
	s := newServer(t)
	aborted := make(chan struct{})
	s.handle("SELECT count(*) FROM Slow", func(t *testing.T, w http.ResponseWriter, r *http.Request, n int) {
		select {
		case <-r.Context().Done():
			if n == 1 {
				close(aborted)
			}
		case <-time.After(5 * time.Second):
		}
	})
	p := newProvider(t, s, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := p.Query(ctx, q("SELECT count(*) FROM Slow")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Query = %v, want DeadlineExceeded", err)
	}
	// The client drops the context; the adapter must still abort the
	// request in flight.
	select {
	case <-aborted:
	case <-time.After(2 * time.Second):
		t.Error("the request in flight was not aborted at the deadline")
	}
	// The client's retry loop goes on for a while in its goroutine; it must
	// not reach the server again.
	time.Sleep(1500 * time.Millisecond)
	if n := s.count("SELECT count(*) FROM Slow"); n != 1 {
		t.Errorf("%d requests reached the server after a deadline, want 1", n)
	}
}

func TestSecretsNeverLeak(t *testing.T) {
	s := newServer(t)
	s.handle("unauthorized", statusAnswer(http.StatusUnauthorized, gqlErrors("Invalid API key "+testKey)))
	s.handle("bad key", statusAnswer(http.StatusOK, map[string]any{"errors": []any{map[string]any{
		"message":    "Invalid API key: " + testKey,
		"extensions": map[string]any{"error_code": "BAD_API_KEY"},
	}}}))
	s.handle("bad request", statusAnswer(http.StatusBadRequest, gqlErrors("cannot parse request with key "+testKey)))
	s.handle("graphql", statusAnswer(http.StatusOK, gqlErrors("NRQL error near "+testKey)))
	s.handle("echo ok", rowsAnswer(map[string]any{"count": 1.0, "note": testKey}))
	var logs bytes.Buffer
	p := newProvider(t, s, func(c *newrelic.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug - 4}))
	})
	ctx := context.Background()
	var texts []string
	for _, nrql := range []string{"unauthorized", "bad key", "bad request", "graphql"} {
		_, err := p.Query(ctx, q(nrql))
		if err == nil {
			t.Fatalf("%s: no error", nrql)
		}
		texts = append(texts, err.Error())
		for e := error(err); e != nil; e = errors.Unwrap(e) {
			texts = append(texts, e.Error())
		}
		var ne *newrelic.Error
		if errors.As(err, &ne) {
			texts = append(texts, strings.Join(ne.Messages, " "))
			for _, inner := range ne.Unwrap() {
				texts = append(texts, inner.Error())
			}
		}
		if (nrql == "unauthorized" || nrql == "bad key") && !errors.Is(err, newrelic.ErrUnauthorized) {
			t.Errorf("%s: %v, want ErrUnauthorized", nrql, err)
		}
	}
	if _, err := p.Query(ctx, q("echo ok")); err != nil {
		t.Fatal(err)
	}
	texts = append(texts, logs.String())
	if !strings.Contains(logs.String(), "request details") {
		t.Errorf("the client's trace lines did not reach the logger: %q", logs.String())
	}
	if !strings.Contains(strings.Join(texts, "\n"), "[REDACTED]") {
		t.Errorf("the echoed key was not replaced by [REDACTED]")
	}
	for _, text := range texts {
		if strings.Contains(text, testKey) {
			t.Errorf("the key leaked into %q", text)
		}
	}
}

func TestBadInputSendsNothing(t *testing.T) {
	s := newServer(t)
	p := newProvider(t, s, nil)
	ctx := context.Background()
	tmpl := metrics.MustParse(metrics.NRQL, "errors",
		"SELECT percentage(count(*), WHERE error IS true) AS 'value' FROM Transaction WHERE appName = '{{service}}' AND version = '{{version}}'")
	var errs []error
	for _, hostile := range []string{"web' OR appName LIKE '%", "web'", `web\`, "web\nSINCE 1 week ago", "", "web or 1=1", "we b"} {
		_, err := newrelic.Render(tmpl, metrics.Vars{Service: hostile, Version: "v2"})
		errs = append(errs, err)
	}
	_, err := newrelic.Render(metrics.MustParse(metrics.Datadog, "d", "avg:x{service:{{service}}}"), metrics.Vars{Service: "web"})
	errs = append(errs, err)
	for _, bq := range []metrics.Query{
		q("SELECT count(*) FROM Transaction SINCE 1 week ago"),
		q("SELECT count(*) FROM Transaction until now"),
		q("SELECT count(*) FROM Transaction COMPARE WITH 1 day ago"),
		q("SELECT count(*) FROM Transaction TIMESERIES 1 minute"),
		q("SELECT count(*) FROM Transaction -- the appended SINCE would be a comment"),
		q("SELECT count(*) FROM Transaction // also a comment"),
		q("SELECT count(*) FROM Transaction /* unclosed"),
		{Text: "SELECT count(*) FROM Transaction", Window: 0, End: testEnd},
		{Text: "SELECT count(*) FROM Transaction", Window: 500 * time.Millisecond, End: testEnd},
		{Text: "SELECT count(*) FROM Transaction", Window: time.Minute + time.Microsecond, End: testEnd},
		{Text: "SELECT count(*) FROM Transaction", Window: -time.Minute, End: testEnd},
		{Text: "", Window: time.Minute, End: testEnd},
		{Text: "SELECT count(*) FROM Transaction", Window: time.Minute},
	} {
		_, err := p.Query(ctx, bq)
		errs = append(errs, err)
		_, err = p.QueryFacets(ctx, bq)
		errs = append(errs, err)
	}
	for _, cfg := range []newrelic.Config{
		{AccountID: testAccount},
		{APIKey: testKey},
		{APIKey: testKey, AccountID: -4},
		{APIKey: testKey, AccountID: testAccount, Region: "APAC"},
		{APIKey: testKey, AccountID: testAccount, Region: "JP"},
		{APIKey: testKey, AccountID: testAccount, BaseURL: "ftp://127.0.0.1/graphql"},
		{APIKey: testKey, AccountID: testAccount, BaseURL: "http://user:pw@127.0.0.1/graphql"},
		{APIKey: testKey, AccountID: testAccount, Resolution: -time.Second},
		{APIKey: testKey, AccountID: testAccount, MaxWait: -time.Second},
		{APIKey: testKey, AccountID: testAccount, Timeout: -time.Second},
		{APIKey: testKey + " ", AccountID: testAccount},
	} {
		_, err := newrelic.New(cfg)
		errs = append(errs, err)
	}
	var zero newrelic.Provider
	_, err = zero.Query(ctx, q("x"))
	errs = append(errs, err)
	for i, err := range errs {
		var fe *canary.FieldError
		if !errors.As(err, &fe) || !errors.Is(err, canary.ErrInvalid) || fe.Field == "" {
			t.Errorf("case %d: %v, want a *canary.FieldError naming the field", i, err)
			continue
		}
		for _, secret := range []string{testKey, "pw@"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("case %d: %q shows a secret", i, err)
			}
		}
	}
	if n := s.requests.Load(); n != 0 {
		t.Errorf("%d requests reached the server; bad input must be refused before any", n)
	}
}
