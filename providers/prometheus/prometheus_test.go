package prometheus_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/metrics/metricstest"
	"github.com/meshcanary/canary/providers/prometheus"
)

var end = time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)

// api answers Prometheus's HTTP query API (instant and range) from a
// function of the request's form, and records the requests.
type api struct {
	t      *testing.T
	answer func(r *http.Request) (status int, body string)

	mu   sync.Mutex
	reqs []*http.Request
}

func newAPI(t *testing.T, answer func(r *http.Request) (int, string)) (*api, *httptest.Server) {
	a := &api{t: t, answer: answer}
	s := httptest.NewServer(a)
	t.Cleanup(s.Close)
	return a, s
}

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	a.reqs = append(a.reqs, r)
	a.mu.Unlock()
	status, body := a.answer(r)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

func (a *api) requests() []*http.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*http.Request(nil), a.reqs...)
}

func ok(resultType, result string) (int, string) {
	return http.StatusOK, `{"status":"success","data":{"resultType":"` + resultType + `","result":` + result + `}}`
}

func fixed(resultType, result string) func(*http.Request) (int, string) {
	return func(*http.Request) (int, string) { return ok(resultType, result) }
}

func ts() string { return strconv.FormatInt(end.Unix(), 10) }

func newProvider(t *testing.T, cfg prometheus.Config) *prometheus.Provider {
	t.Helper()
	p, err := prometheus.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func q(text string) metrics.Query { return metrics.Query{Text: text, Window: time.Minute, End: end} }

func TestShapes(t *testing.T) {
	one := `[{"metric":{"destination_version":"v2"},"value":[` + ts() + `,"0.25"]}]`
	for _, c := range []struct {
		name       string
		resultType string
		result     string
		want       float64
		wantErr    error
	}{
		{"scalar", "scalar", `[` + ts() + `,"0.5"]`, 0.5, nil},
		{"vector of one", "vector", one, 0.25, nil},
		{"empty vector", "vector", `[]`, 0, metrics.ErrNoData},
		{"scalar NaN", "scalar", `[` + ts() + `,"NaN"]`, 0, metrics.ErrNoData},
		{"vector NaN", "vector", `[{"metric":{},"value":[` + ts() + `,"NaN"]}]`, 0, metrics.ErrNoData},
		{"vector +Inf", "vector", `[{"metric":{},"value":[` + ts() + `,"+Inf"]}]`, 0, metrics.ErrNoData},
		{"vector -Inf", "vector", `[{"metric":{},"value":[` + ts() + `,"-Inf"]}]`, 0, metrics.ErrNoData},
		{"several series", "vector", `[{"metric":{"destination_version":"v1"},"value":[` + ts() + `,"1"]},` +
			`{"metric":{"destination_version":"v2"},"value":[` + ts() + `,"2"]}]`, 0, prometheus.ErrSeveralSeries},
		{"range vector from an instant query", "matrix", `[{"metric":{"job":"mesh"},"values":[[` + ts() + `,"1"]]}]`, 0, prometheus.ErrRangeVector},
		{"empty matrix", "matrix", `[]`, 0, metrics.ErrNoData},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, s := newAPI(t, fixed(c.resultType, c.result))
			r, err := newProvider(t, prometheus.Config{Address: s.URL}).Query(context.Background(), q("x"))
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("Query = (%+v, %v), want %v", r, err, c.wantErr)
				}
				return
			}
			if err != nil || r.Value != c.want {
				t.Fatalf("Query = (%+v, %v), want %v", r, err, c.want)
			}
		})
	}
}

func TestSeveralSeriesNamesThem(t *testing.T) {
	var series []string
	for i := range 7 {
		series = append(series, `{"metric":{"pod":"cart-`+strconv.Itoa(i)+`"},"value":[`+ts()+`,"1"]}`)
	}
	_, s := newAPI(t, fixed("vector", "["+strings.Join(series, ",")+"]"))
	_, err := newProvider(t, prometheus.Config{Address: s.URL}).Query(context.Background(), q("rate(x[1m])"))
	if !errors.Is(err, prometheus.ErrSeveralSeries) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{`pod="cart-0"`, `pod="cart-4"`, "7 series", "2 more"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestRangeQuery(t *testing.T) {
	a, s := newAPI(t, func(r *http.Request) (int, string) {
		if !strings.HasSuffix(r.URL.Path, "/api/v1/query_range") {
			return http.StatusNotFound, `{}`
		}
		start, _ := strconv.ParseFloat(r.Form.Get("start"), 64)
		stop, _ := strconv.ParseFloat(r.Form.Get("end"), 64)
		step, _ := strconv.ParseFloat(r.Form.Get("step"), 64)
		var pts []string
		for x := start; x <= stop; x += step {
			v := strconv.FormatFloat(x-start, 'f', -1, 64)
			if x == start+step {
				v = "NaN" // a gap: dropped from Samples
			}
			pts = append(pts, "["+strconv.FormatFloat(x, 'f', -1, 64)+`,"`+v+`"]`)
		}
		return ok("matrix", `[{"metric":{},"values":[`+strings.Join(pts, ",")+`]}]`)
	})
	p := newProvider(t, prometheus.Config{Address: s.URL, Step: 15 * time.Second})
	r, err := p.Query(context.Background(), q("sum(rate(x[1m]))"))
	if err != nil {
		t.Fatal(err)
	}
	// (End-60s, End] at 15s: End-45s, End-30s (NaN), End-15s, End.
	want := []float64{0, 30, 45}
	if fmt.Sprint(r.Samples) != fmt.Sprint(want) || r.Value != 45 {
		t.Errorf("Result = %+v, want Samples %v and Value 45", r, want)
	}
	f := a.requests()[0].Form
	if f.Get("start") != strconv.FormatInt(end.Add(-45*time.Second).Unix(), 10) || f.Get("end") != ts() || f.Get("step") != "15" {
		t.Errorf("range asked = start %s end %s step %s", f.Get("start"), f.Get("end"), f.Get("step"))
	}
}

func TestRangeWithoutPointAtEnd(t *testing.T) {
	_, s := newAPI(t, fixed("matrix", `[{"metric":{},"values":[[`+strconv.FormatInt(end.Unix()-30, 10)+`,"1"]]}]`))
	p := newProvider(t, prometheus.Config{Address: s.URL, Step: 15 * time.Second})
	if _, err := p.Query(context.Background(), q("x")); !errors.Is(err, metrics.ErrNoData) {
		t.Fatalf("err = %v, want ErrNoData", err)
	}
}

func TestInstantRequest(t *testing.T) {
	a, s := newAPI(t, fixed("scalar", `[`+ts()+`,"1"]`))
	p := newProvider(t, prometheus.Config{Address: s.URL + "/prefix", Timeout: 5 * time.Second})
	if _, err := p.Query(context.Background(), q("vector(1)")); err != nil {
		t.Fatal(err)
	}
	r := a.requests()[0]
	if r.URL.Path != "/prefix/api/v1/query" || r.Form.Get("query") != "vector(1)" || r.Form.Get("time") != ts() || r.Form.Get("timeout") != "5s" {
		t.Errorf("request = %s %v", r.URL.Path, r.Form)
	}
	// A nearer deadline of the caller's is passed on to the server.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := p.Query(ctx, q("vector(1)")); err != nil {
		t.Fatal(err)
	}
	// Prometheus's duration syntax (model.ParseDuration) has no fractions.
	if got := a.requests()[1].Form.Get("timeout"); got != "1s" {
		t.Errorf("timeout asked of the server = %q, want 1s (2s less what has passed, in whole seconds)", got)
	}
	for _, c := range []struct {
		cfg  time.Duration
		want string
	}{{1500 * time.Millisecond, "1s"}, {90 * time.Second, "1m30s"}, {1234567 * time.Microsecond, "1s"}, {2 * time.Hour, "2h0m0s"}} {
		p := newProvider(t, prometheus.Config{Address: s.URL, Timeout: c.cfg})
		if _, err := p.Query(context.Background(), q("vector(1)")); err != nil {
			t.Fatal(err)
		}
		reqs := a.requests()
		got := reqs[len(reqs)-1].Form.Get("timeout")
		if _, err := model.ParseDuration(got); err != nil || got != c.want {
			t.Errorf("Timeout %v sent as %q (%v), want %q", c.cfg, got, err, c.want)
		}
	}
	// A deadline under a second is sent in whole milliseconds. (The local
	// answer comes at once; 900 ms rather than 300 leaves a loaded machine
	// room.)
	ctx, cancel = context.WithTimeout(context.Background(), 900*time.Millisecond)
	defer cancel()
	if _, err := p.Query(ctx, q("vector(1)")); err != nil {
		t.Fatal(err)
	}
	reqs := a.requests()
	if got := reqs[len(reqs)-1].Form.Get("timeout"); !strings.HasSuffix(got, "ms") || strings.Contains(got, ".") {
		t.Errorf("a 900ms deadline sent as timeout %q, want whole milliseconds", got)
	}
}

func TestBadQueriesSendNothing(t *testing.T) {
	a, s := newAPI(t, fixed("scalar", `[`+ts()+`,"1"]`))
	p := newProvider(t, prometheus.Config{Address: s.URL, Resolution: 15 * time.Second, Step: 15 * time.Second})
	for _, c := range []struct {
		q     metrics.Query
		field string
	}{
		{metrics.Query{Text: "x", Window: 0, End: end}, "Query.Window"},
		{metrics.Query{Text: "x", Window: 14 * time.Second, End: end}, "Query.Window"},
		{metrics.Query{Text: "x", Window: 15 * 11001 * time.Second, End: end}, "Query.Window"},
		{metrics.Query{Text: "", Window: time.Minute, End: end}, "Query.Text"},
		{metrics.Query{Text: "x", Window: time.Minute}, "Query.End"},
	} {
		_, err := p.Query(context.Background(), c.q)
		var fe *canary.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("Query(%+v) = %v, want a FieldError on %s", c.q, err, c.field)
		}
	}
	// The default resolution is one second.
	d := newProvider(t, prometheus.Config{Address: s.URL})
	_, err := d.Query(context.Background(), metrics.Query{Text: "x", Window: 500 * time.Millisecond, End: end})
	if !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("a 500ms window = %v, want ErrInvalid", err)
	}
	if n := len(a.requests()); n != 0 {
		t.Errorf("%d requests sent for invalid queries", n)
	}
}

func TestConfigRefused(t *testing.T) {
	for _, c := range []struct {
		cfg   prometheus.Config
		field string
	}{
		{prometheus.Config{}, "Config.Address"},
		{prometheus.Config{Address: "prometheus:9090"}, "Config.Address"},
		{prometheus.Config{Address: "ftp://prometheus"}, "Config.Address"},
		{prometheus.Config{Address: "http://"}, "Config.Address"},
		{prometheus.Config{Address: "http://p:9090/?x=1"}, "Config.Address"},
		{prometheus.Config{Address: "http://user:hunter2secret@p:9090"}, "Config.Address"},
		{prometheus.Config{Address: "http://p", Timeout: -1}, "Config.Timeout"},
		{prometheus.Config{Address: "http://p", Step: -1}, "Config.Step"},
		{prometheus.Config{Address: "http://p", Resolution: -1}, "Config.Resolution"},
		{prometheus.Config{Address: "http://p", Step: 500 * time.Millisecond}, "Config.Step"},
		{prometheus.Config{Address: "http://p", Resolution: 30 * time.Second, Step: 15 * time.Second}, "Config.Step"},
		{prometheus.Config{Address: "http://p", BearerToken: "tok", BasicAuth: &prometheus.BasicAuth{Username: "u"}}, "Config.BearerToken"},
		{prometheus.Config{Address: "http://p", BearerToken: "tok\r\nX-Evil: 1"}, "Config.BearerToken"},
		{prometheus.Config{Address: "http://p", BasicAuth: &prometheus.BasicAuth{}}, "Config.BasicAuth.Username"},
		{prometheus.Config{Address: "http://p", BasicAuth: &prometheus.BasicAuth{Username: "a:b"}}, "Config.BasicAuth.Username"},
		{prometheus.Config{Address: "http://p", Headers: map[string]string{"Bad Name": "x"}}, "Config.Headers"},
		{prometheus.Config{Address: "http://p", Headers: map[string]string{"X-Org": "a\nb"}}, "Config.Headers[X-Org]"},
		{prometheus.Config{Address: "http://p", BearerToken: "t", Headers: map[string]string{"authorization": "x"}}, "Config.Headers[authorization]"},
		{prometheus.Config{Address: "http://p", TLS: prometheus.TLS{CAFile: "/nonexistent/ca.pem"}}, "Config.TLS.CAFile"},
		{prometheus.Config{Address: "http://p", TLS: prometheus.TLS{CertFile: "c.pem"}}, "Config.TLS.KeyFile"},
		{prometheus.Config{Address: "http://p", TLS: prometheus.TLS{KeyFile: "k.pem"}}, "Config.TLS.CertFile"},
		{prometheus.Config{Address: "http://p", Transport: http.DefaultTransport, TLS: prometheus.TLS{InsecureSkipVerify: true}}, "Config.TLS"},
	} {
		_, err := prometheus.New(c.cfg)
		var fe *canary.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("New(%s) = %v, want a FieldError on %s", c.cfg, err, c.field)
			continue
		}
		if strings.Contains(err.Error(), "hunter2secret") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

func TestAuthHeaders(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  prometheus.Config
		want map[string]string
	}{
		{"bearer", prometheus.Config{BearerToken: "tok-123456"}, map[string]string{"Authorization": "Bearer tok-123456"}},
		{"basic", prometheus.Config{BasicAuth: &prometheus.BasicAuth{Username: "grafana", Password: "pw-secret"}},
			map[string]string{"Authorization": "Basic Z3JhZmFuYTpwdy1zZWNyZXQ="}},
		{"headers", prometheus.Config{Headers: map[string]string{"X-Scope-OrgID": "tenant-1", "Authorization": "Custom abc"}},
			map[string]string{"X-Scope-Orgid": "tenant-1", "Authorization": "Custom abc"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, s := newAPI(t, fixed("scalar", `[`+ts()+`,"1"]`))
			c.cfg.Address = s.URL
			if _, err := newProvider(t, c.cfg).Query(context.Background(), q("x")); err != nil {
				t.Fatal(err)
			}
			got := a.requests()[0].Header
			for k, v := range c.want {
				if got.Get(k) != v {
					t.Errorf("header %s = %q, want %q", k, got.Get(k), v)
				}
			}
		})
	}
}

// TestSecretsNeverShown: a server that fails and echoes the credentials it
// received back in its error body, both as a plain HTTP error (kept in
// *v1.Error's Detail) and as a Prometheus API error (in its Msg).
func TestSecretsNeverShown(t *testing.T) {
	const token, password, apiKey = "tok-7f3a9c2e51", "pw-0d8b44e1aa", "key-c0ffee1234"
	echo := func(r *http.Request) string {
		return r.Header.Get("Authorization") + " " + r.Header.Get("X-Api-Key")
	}
	for _, c := range []struct {
		name   string
		status int
		body   func(r *http.Request) string
	}{
		{"plain 500", http.StatusInternalServerError, func(r *http.Request) string { return "denied: " + echo(r) }},
		{"plain 401", http.StatusUnauthorized, func(r *http.Request) string { return "bad credentials " + echo(r) }},
		{"api 400", http.StatusBadRequest, func(r *http.Request) string {
			return `{"status":"error","errorType":"bad_data","error":"bad token ` + echo(r) + `"}`
		}},
	} {
		for _, cfg := range []prometheus.Config{
			{BearerToken: token, Headers: map[string]string{"X-Api-Key": apiKey}},
			{BasicAuth: &prometheus.BasicAuth{Username: "grafana", Password: password}, Headers: map[string]string{"X-Api-Key": apiKey}},
		} {
			t.Run(c.name, func(t *testing.T) {
				a, s := newAPI(t, func(r *http.Request) (int, string) { return c.status, c.body(r) })
				cfg.Address = s.URL
				_, err := newProvider(t, cfg).Query(context.Background(), q("x"))
				if err == nil {
					t.Fatal("no error")
				}
				if len(a.requests()) == 0 || !strings.Contains(c.body(a.requests()[0]), apiKey) {
					t.Fatal("the server did not receive the credentials, so the test proves nothing")
				}
				var ve *v1.Error
				if !errors.As(err, &ve) {
					t.Fatalf("*v1.Error not reachable in %v", err)
				}
				shown := fmt.Sprintf("%v | %+v | %#v | %s | %s | %v", err, err, ve, ve.Msg, ve.Detail, cfg)
				for _, secret := range []string{token, password, apiKey, "Z3JhZmFuYTpwdy0wZDhiNDRlMWFh"} {
					if strings.Contains(shown, secret) {
						t.Errorf("secret %q shown: %s", secret, shown)
					}
				}
				if !strings.Contains(shown, "[REDACTED]") {
					t.Errorf("expected the echoed credentials to be redacted: %s", shown)
				}
			})
		}
	}
}

func TestTimeout(t *testing.T) {
	_, s := newAPI(t, func(r *http.Request) (int, string) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return ok("scalar", `[`+ts()+`,"1"]`)
	})
	p := newProvider(t, prometheus.Config{Address: s.URL, Timeout: 100 * time.Millisecond})
	start := time.Now()
	_, err := p.Query(context.Background(), q("x"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned after %v", d)
	}
}

// TestConformanceLocal runs the conformance suite against a local server
// answering as Prometheus does; the same suite runs against the real server
// in TestServer.
func TestConformanceLocal(t *testing.T) {
	metricstest.Run(t, func(_ context.Context, t *testing.T) metricstest.Fixture {
		_, s := newAPI(t, func(r *http.Request) (int, string) {
			ranged := strings.HasSuffix(r.URL.Path, "/query_range")
			switch r.Form.Get("query") {
			case "value":
				if ranged {
					return ok("matrix", `[{"metric":{},"values":`+points(r, "0.015")+`}]`)
				}
				return ok("vector", `[{"metric":{},"value":[`+ts()+`,"0.015"]}]`)
			case "empty":
				if ranged {
					return ok("matrix", `[]`)
				}
				return ok("vector", `[]`)
			case "several":
				return ok("vector", `[{"metric":{"a":"1"},"value":[`+ts()+`,"1"]},{"metric":{"a":"2"},"value":[`+ts()+`,"2"]}]`)
			case "nan":
				return ok("scalar", `[`+ts()+`,"NaN"]`)
			case "slow":
				<-r.Context().Done()
				return ok("vector", `[]`)
			}
			return http.StatusBadRequest, `{"status":"error","errorType":"bad_data","error":"parse error"}`
		})
		return metricstest.Fixture{
			Source: newProvider(t, prometheus.Config{Address: s.URL}).Source(),
			Value:  q("value"), Want: 0.015, Tolerance: 1e-12,
			Empty: q("empty"), NaN: q("nan"), Slow: q("slow"), Several: q("several"),
			Failing: q("sum("), Target: new(*v1.Error),
			Range: metrics.RangeQuery{Text: "value", Window: time.Minute, Start: end.Add(-10 * time.Minute), End: end, Step: time.Minute},
		}
	})
}

// points answers a range request's start, end and step with value at
// every step, as Prometheus's matrix values.
func points(r *http.Request, value string) string {
	start, _ := strconv.ParseFloat(r.Form.Get("start"), 64)
	stop, _ := strconv.ParseFloat(r.Form.Get("end"), 64)
	step, _ := strconv.ParseFloat(r.Form.Get("step"), 64)
	var pts []string
	for x := start; x <= stop && step > 0; x += step {
		pts = append(pts, "["+strconv.FormatFloat(x, 'f', -1, 64)+`,"`+value+`"]`)
	}
	return "[" + strings.Join(pts, ",") + "]"
}

// TestRange: Range sends one query_range with the range asked for, with
// the configured credentials, and returns the points with gaps and NaN
// left out; several series and an empty matrix are refused.
func TestRange(t *testing.T) {
	a, s := newAPI(t, func(r *http.Request) (int, string) {
		if !strings.HasSuffix(r.URL.Path, "/api/v1/query_range") {
			return http.StatusNotFound, `{}`
		}
		switch r.Form.Get("query") {
		case "two":
			return ok("matrix", `[{"metric":{"a":"1"},"values":[[`+ts()+`,"1"]]},{"metric":{"a":"2"},"values":[[`+ts()+`,"2"]]}]`)
		case "none":
			return ok("matrix", `[]`)
		case "string":
			return ok("string", `[`+ts()+`,"x"]`)
		}
		at := func(d time.Duration) string { return strconv.FormatInt(end.Add(d).Unix(), 10) }
		// No point at -2m (a gap), NaN at -1m.
		return ok("matrix", `[{"metric":{},"values":[[`+at(-3*time.Minute)+`,"1"],[`+at(-time.Minute)+`,"NaN"],[`+at(0)+`,"3"]]}]`)
	})
	p := newProvider(t, prometheus.Config{Address: s.URL, BearerToken: "tok-range-1"})
	rq := metrics.RangeQuery{Text: "sum(rate(x[1m]))", Window: time.Minute, Start: end.Add(-3 * time.Minute), End: end, Step: time.Minute}
	pts, err := p.Range(context.Background(), rq)
	if err != nil {
		t.Fatal(err)
	}
	want := []metrics.Point{{Time: end.Add(-3 * time.Minute), Value: 1}, {Time: end, Value: 3}}
	if fmt.Sprint(pts) != fmt.Sprint(want) {
		t.Errorf("Range = %v, want %v", pts, want)
	}
	r := a.requests()[0]
	f := r.Form
	if f.Get("query") != rq.Text || f.Get("start") != strconv.FormatInt(rq.Start.Unix(), 10) || f.Get("end") != ts() || f.Get("step") != "60" {
		t.Errorf("range asked = %v", f)
	}
	if r.Header.Get("Authorization") != "Bearer tok-range-1" {
		t.Errorf("Authorization = %q; the configured credentials were not sent", r.Header.Get("Authorization"))
	}
	for _, c := range []struct {
		text string
		want error
	}{{"two", metrics.ErrSeveralSeries}, {"none", metrics.ErrNoData}} {
		rq.Text = c.text
		if _, err := p.Range(context.Background(), rq); !errors.Is(err, c.want) {
			t.Errorf("Range(%s) = %v, want %v", c.text, err, c.want)
		}
	}
	rq.Text = "string"
	if _, err := p.Range(context.Background(), rq); err == nil || errors.Is(err, metrics.ErrNoData) {
		t.Errorf("Range answered by a string = %v, want an error", err)
	}
	n := len(a.requests())
	rq.Window = 500 * time.Millisecond
	if _, err := p.Range(context.Background(), rq); !errors.Is(err, canary.ErrInvalid) || len(a.requests()) != n {
		t.Errorf("a window under the resolution = %v after %d requests, want ErrInvalid and none", err, len(a.requests())-n)
	}
	var zero *prometheus.Provider
	if _, err := zero.Range(context.Background(), rq); !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("nil Provider Range = %v, want ErrInvalid", err)
	}
}

func TestWithCount(t *testing.T) {
	istio, err := prometheus.IstioQueries(prometheus.IstioLabels{})
	if err != nil {
		t.Fatal(err)
	}
	vars := metrics.Vars{Namespace: "shop", Workload: "cart", Version: "v2"}
	for _, c := range []struct {
		name      string
		count     string // the count query's answer (a scalar)
		wantCount int64
		wantErr   bool
	}{
		{"rounded", "1199.6", 1200, false},
		{"no data leaves 0", "NaN", 0, false},
		{"negative refused", "-3", 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, s := newAPI(t, func(r *http.Request) (int, string) {
				if strings.Contains(r.Form.Get("query"), "increase(") {
					return ok("scalar", `[`+ts()+`,"`+c.count+`"]`)
				}
				return ok("scalar", `[`+ts()+`,"0.1"]`)
			})
			cp, err := newProvider(t, prometheus.Config{Address: s.URL}).WithCount(istio.RequestCount, vars)
			if err != nil {
				t.Fatal(err)
			}
			r, err := cp.Query(context.Background(), q("error_rate"))
			if c.wantErr {
				if err == nil {
					t.Fatalf("Query = %+v, want an error", r)
				}
				return
			}
			if err != nil || r.Value != 0.1 || r.Count != c.wantCount {
				t.Fatalf("Query = (%+v, %v), want Value 0.1, Count %d", r, err, c.wantCount)
			}
			got := a.requests()[1].Form.Get("query")
			if !strings.Contains(got, `[60s]`) || !strings.Contains(got, `destination_version="v2"`) {
				t.Errorf("count query = %s; want the query's window and the vars", got)
			}
		})
	}
	p := newProvider(t, prometheus.Config{Address: "http://127.0.0.1:1"})
	if _, err := p.WithCount(istio.RequestCount, metrics.Vars{Namespace: `a"b`}); !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("WithCount with a hostile value = %v, want ErrInvalid", err)
	}
	nrql := metrics.MustParse(metrics.NRQL, "n", "SELECT count(*) FROM Transaction")
	if _, err := p.WithCount(nrql, vars); !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("WithCount with an NRQL template = %v, want ErrInvalid", err)
	}
}

func TestConfigStringHidesSecrets(t *testing.T) {
	cfg := prometheus.Config{
		Address: "http://p", BearerToken: "tok-abcdef",
		BasicAuth: &prometheus.BasicAuth{Username: "u", Password: "pw-abcdef"},
		Headers:   map[string]string{"X-Api-Key": "key-abcdef"},
	}
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "cfg", cfg, "auth", cfg.BasicAuth)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "cfg", cfg, "auth", *cfg.BasicAuth)
	if !strings.Contains(logged.String(), "[REDACTED]") {
		t.Errorf("slog output shows no redaction: %s", logged.String())
	}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%v", &cfg),
		fmt.Sprint(cfg.BasicAuth), fmt.Sprintf("%+v %#v", *cfg.BasicAuth, cfg.BasicAuth), logged.String()} {
		for _, secret := range []string{"tok-abcdef", "pw-abcdef", "key-abcdef"} {
			if strings.Contains(s, secret) {
				t.Errorf("%q shows %s", s, secret)
			}
		}
	}
}

func TestNoNaNEscapes(t *testing.T) {
	// A range whose every point is NaN except the last.
	_, s := newAPI(t, fixed("matrix", `[{"metric":{},"values":[[`+strconv.FormatInt(end.Unix()-30, 10)+`,"NaN"],[`+ts()+`,"2"]]}]`))
	r, err := newProvider(t, prometheus.Config{Address: s.URL, Step: 30 * time.Second}).Query(context.Background(), q("x"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range append(r.Samples, r.Value) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Errorf("Result %+v holds %v", r, v)
		}
	}
}

func TestZeroProvider(t *testing.T) {
	for _, p := range []*prometheus.Provider{nil, {}} {
		_, err := p.Query(context.Background(), q("x"))
		var fe *canary.FieldError
		if !errors.As(err, &fe) || fe.Field != "Provider" {
			t.Errorf("zero Provider Query = %v, want a FieldError on Provider", err)
		}
		istio, _ := prometheus.IstioQueries(prometheus.IstioLabels{})
		if _, err := p.WithCount(istio.RequestCount, metrics.Vars{}); !errors.Is(err, canary.ErrInvalid) {
			t.Errorf("zero Provider WithCount = %v, want ErrInvalid", err)
		}
	}
}
