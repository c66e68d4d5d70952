package cloudwatch_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/metrics/metricstest"
	"github.com/meshcanary/canary/providers/cloudwatch"
)

// Credentials the tests sign with; none may appear in any error.
const (
	testKeyID  = "AKIACANARYTESTKEY0001"
	testSecret = "cAnArYsEcReTkEy/wJalrXUtnFEMIK7MDENGbPxRfiCY"
	testToken  = "FwoGZXIvYXdzCANARYSESSIONTOKENabc123"
)

// end is the analysis instant of most tests: 30 s into a minute, so the
// minute that ends at 10:00:00 is the latest complete one.
var end = time.Date(2026, 11, 28, 10, 0, 30, 0, time.UTC)

const lattice = "AWS/VpcLattice"

func tg(id string) []dimension { return []dimension{{"TargetGroup", id}} }

type backoff time.Duration

func (b backoff) BackoffDelay(int, error) (time.Duration, error) { return time.Duration(b), nil }

// newProvider returns a Provider talking to f in the given protocol
// ("cbor", the SDK's default, or "json"), retrying with a fixed back-off.
func newProvider(t testing.TB, f *fakeCloudWatch, proto string, wait time.Duration, cfg ...func(*cloudwatch.Config)) *cloudwatch.Provider {
	t.Helper()
	c := cloudwatch.Config{
		AWS: &aws.Config{
			Region:       "eu-west-2",
			Credentials:  credentials.NewStaticCredentialsProvider(testKeyID, testSecret, testToken),
			BaseEndpoint: aws.String(f.server.URL),
			Retryer: func() aws.Retryer {
				return retry.NewStandard(func(o *retry.StandardOptions) {
					o.MaxAttempts = 4
					o.Backoff = backoff(wait)
				})
			},
		},
	}
	if proto == "json" {
		c.ClientOptions = append(c.ClientOptions, func(o *cw.Options) {
			o.Protocol = awsjson.New11(schemas.GraniteServiceVersion20100801)
		})
	}
	for _, fn := range cfg {
		fn(&c)
	}
	p, err := cloudwatch.New(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// publish puts five minutes of Lattice metrics for target group id, from
// 09:55 to 09:59: requests a minute, errors5 5xx and errors4 4xx answers,
// and request times averaging ms. It also puts a datapoint in the minute
// still in progress at end (10:00:10) that would change every figure if it
// were read.
func publish(f *fakeCloudWatch, id string, requests, errors5, errors4, ms float64) {
	for m := range 5 {
		at := time.Date(2026, 11, 28, 9, 55+m, 20, 0, time.UTC)
		f.put(lattice, "TotalRequestCount", tg(id), at, requests, 1)
		if errors5 > 0 {
			f.put(lattice, "HTTPCode_5XX_Count", tg(id), at, errors5, 1)
		}
		if errors4 > 0 {
			f.put(lattice, "HTTPCode_4XX_Count", tg(id), at, errors4, 1)
		}
		f.put(lattice, "RequestTime", tg(id), at, ms*requests, requests)
	}
	f.setUnit(lattice, "RequestTime", tg(id), "Milliseconds")
	partial := time.Date(2026, 11, 28, 10, 0, 10, 0, time.UTC)
	f.put(lattice, "TotalRequestCount", tg(id), partial, 1e6, 1)
	f.put(lattice, "HTTPCode_5XX_Count", tg(id), partial, 1e6, 1)
	f.put(lattice, "RequestTime", tg(id), partial, 1e9, 1)
}

func render(t testing.TB, tmpl metrics.Template, version string) string {
	t.Helper()
	s, err := tmpl.Render(metrics.Vars{Version: version, Namespace: "shop", Workload: "cart"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func latticeQueries(t testing.TB) cloudwatch.Queries {
	t.Helper()
	q, err := cloudwatch.LatticeQueries(cloudwatch.LatticeNames{})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func query(text string) metrics.Query {
	return metrics.Query{Text: text, Window: 5 * time.Minute, End: end}
}

func rawStat(ns, name, id string) string {
	return fmt.Sprintf(`[{"Id":"value","MetricStat":{"Metric":{"Namespace":%q,"MetricName":%q,"Dimensions":[{"Name":"TargetGroup","Value":%q}]},"Stat":"Sum"}}]`, ns, name, id)
}

func TestConformance(t *testing.T) {
	for _, proto := range []string{"cbor", "json"} {
		t.Run(proto, func(t *testing.T) {
			metricstest.Run(t, func(ctx context.Context, t *testing.T) metricstest.Fixture {
				f := newFakeCloudWatch(t)
				publish(f, "tg-canary", 100, 2, 0, 40)
				// Requests published, all zero: 0/0 is NaN.
				for m := range 5 {
					f.put(lattice, "TotalRequestCount", tg("tg-idle"), time.Date(2026, 11, 28, 9, 55+m, 0, 0, time.UTC), 0, 1)
				}
				// Ten minutes more of the same, for the range tests.
				for m := range 10 {
					at := time.Date(2026, 11, 28, 9, 45+m, 20, 0, time.UTC)
					f.put(lattice, "TotalRequestCount", tg("tg-canary"), at, 100, 1)
					f.put(lattice, "HTTPCode_5XX_Count", tg("tg-canary"), at, 2, 1)
				}
				q := latticeQueries(t)
				fx := metricstest.Fixture{
					Source:    newProvider(t, f, proto, time.Millisecond).Source(),
					Value:     query(render(t, q.ErrorRate, "tg-canary")),
					Want:      0.02,
					Tolerance: 1e-12,
					Empty:     query(render(t, q.ErrorRate, "tg-none")),
					Failing:   query(rawStat("Test/Invalid", "RequestCount", "tg-canary")),
					Target:    new(*types.InvalidParameterValueException),
					Slow:      query(rawStat("Test/Slow", "RequestCount", "tg-canary")),
					// Three five-minute periods, 09:45 to 10:00. The fake
					// answers one result a query id, so Several is not set.
					Range: metrics.RangeQuery{Text: render(t, q.ErrorRate, "tg-canary"), Window: 5 * time.Minute, Step: 5 * time.Minute,
						Start: time.Date(2026, 11, 28, 9, 50, 0, 0, time.UTC), End: end},
				}
				if proto == "cbor" { // JSON has no NaN; CBOR carries it
					fx.NaN = query(`[{"Id":"zero","MetricStat":{"Metric":{"Namespace":"AWS/VpcLattice","MetricName":"TotalRequestCount","Dimensions":[{"Name":"TargetGroup","Value":"tg-idle"}]},"Stat":"Sum"},"ReturnData":false},{"Id":"value","Expression":"zero / zero"}]`)
				}
				return fx
			})
		})
	}
}

func TestTemplatesReadLattice(t *testing.T) {
	f := newFakeCloudWatch(t)
	publish(f, "tg-canary", 100, 2, 5, 40)
	publish(f, "tg-stable", 300, 0, 3, 25)
	p := newProvider(t, f, "cbor", time.Millisecond)
	q := latticeQueries(t)
	for _, c := range []struct {
		name    string
		tmpl    metrics.Template
		version string
		want    float64
		count   int64
	}{
		{"requests", q.RequestCount, "tg-canary", 500, 0},
		{"5xx rate", q.ErrorRate, "tg-canary", 0.02, 500},
		{"success rate", q.SuccessRate, "tg-canary", 0.98, 500},
		{"4xx rate", q.ClientErrorRate, "tg-canary", 0.05, 500},
		// Published in milliseconds, read in seconds (issue 19 item 4).
		{"latency", q.Latency, "tg-canary", 0.040, 500},
		// No 5xx datapoint at all: FILL makes the rate 0, not no data.
		{"5xx rate, none published", q.ErrorRate, "tg-stable", 0, 1500},
		{"latency, stable", q.Latency, "tg-stable", 0.025, 1500},
	} {
		r, err := p.Query(context.Background(), query(render(t, c.tmpl, c.version)))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if math.Abs(r.Value-c.want) > 1e-9 || r.Count != c.count {
			t.Errorf("%s = %v (count %d), want %v (count %d)", c.name, r.Value, r.Count, c.want, c.count)
		}
	}
}

func TestTemplatesReadAppMesh(t *testing.T) {
	f := newFakeCloudWatch(t)
	ns := "ContainerInsights/Prometheus"
	dims := []dimension{{"Namespace", "shop"}, {"version", "v2"}}
	class := func(c string) []dimension {
		return append(append([]dimension(nil), dims...), dimension{"envoy_response_code_class", c})
	}
	for m := range 5 {
		at := time.Date(2026, 11, 28, 9, 55+m, 0, 0, time.UTC)
		f.put(ns, "envoy_http_downstream_rq_total", dims, at, 200, 1)
		f.put(ns, "envoy_http_downstream_rq_xx", class("5"), at, 10, 1)
		f.put(ns, "envoy_http_downstream_rq_xx", class("2"), at, 190, 1)
	}
	q, err := cloudwatch.AppMeshQueries(cloudwatch.AppMeshNames{})
	if err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, f, "cbor", time.Millisecond)
	r, err := p.Query(context.Background(), query(render(t, q.ErrorRate, "v2")))
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(r.Value-0.05) > 1e-12 || r.Count != 1000 {
		t.Errorf("App Mesh 5xx rate = %v (count %d), want 0.05 (count 1000)", r.Value, r.Count)
	}
}

func TestTemplateNamesChecked(t *testing.T) {
	for _, n := range []cloudwatch.LatticeNames{
		{Requests: `Req"uest`},
		{TargetGroup: "a{b}"},
		{TargetGroupIs: `x"},{"Name":"y`},
	} {
		var fe *canary.FieldError
		if _, err := cloudwatch.LatticeQueries(n); !errors.As(err, &fe) {
			t.Errorf("LatticeQueries(%+v) = %v, want a *canary.FieldError", n, err)
		}
	}
	q := latticeQueries(t)
	if _, err := q.ErrorRate.Render(metrics.Vars{Version: `tg"}]`}); err == nil {
		t.Error("a version that could break out of the JSON string was rendered")
	}
}

func TestWindowShorterThanPeriodRefused(t *testing.T) {
	f := newFakeCloudWatch(t)
	p := newProvider(t, f, "cbor", time.Millisecond)
	text := render(t, latticeQueries(t).ErrorRate, "tg-canary")
	_, err := p.Query(context.Background(), metrics.Query{Text: text, Window: 30 * time.Second, End: end})
	var fe *canary.FieldError
	if !errors.As(err, &fe) || fe.Field != "Query.Window" || !strings.Contains(fe.Reason, "period of 1m0s") {
		t.Fatalf("30 s window = %v, want a *canary.FieldError on Query.Window naming the 60 s period", err)
	}
	// A query's own longer period raises the minimum.
	long := strings.Replace(rawStat(lattice, "TotalRequestCount", "tg-canary"), `"Stat":"Sum"`, `"Stat":"Sum","Period":300`, 1)
	if _, err := p.Query(context.Background(), metrics.Query{Text: long, Window: 2 * time.Minute, End: end}); !errors.As(err, &fe) || fe.Field != "Query.Window" {
		t.Errorf("2 min window on a 300 s metric = %v, want a *canary.FieldError on Query.Window", err)
	}
	if n := len(f.requestLog()); n != 0 {
		t.Errorf("%d requests were sent for refused queries", n)
	}
}

func TestOnlyCompletePeriodsRead(t *testing.T) {
	f := newFakeCloudWatch(t)
	publish(f, "tg-canary", 100, 2, 0, 40)
	text := render(t, latticeQueries(t).ErrorRate, "tg-canary")
	for _, c := range []struct {
		name       string
		delay      time.Duration
		window     time.Duration
		start, end string
		want       float64
		count      int64
	}{
		{"latest complete minute", 0, 5 * time.Minute, "09:55:00", "10:00:00", 0.02, 500},
		{"window not a whole number of periods", 0, 5*time.Minute + 40*time.Second, "09:55:00", "10:00:00", 0.02, 500},
		{"delay", 2 * time.Minute, 3 * time.Minute, "09:55:00", "09:58:00", 0.02, 300},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newProvider(t, f, "cbor", time.Millisecond, func(cfg *cloudwatch.Config) { cfg.Delay = c.delay })
			before := len(f.requestLog())
			r, err := p.Query(context.Background(), metrics.Query{Text: text, Window: c.window, End: end})
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(r.Value-c.want) > 1e-12 || r.Count != c.count {
				t.Errorf("value %v (count %d), want %v (count %d): the minute in progress was read", r.Value, r.Count, c.want, c.count)
			}
			req := f.requestLog()[before]
			if got := req.StartTime.Format("15:04:05"); got != c.start {
				t.Errorf("StartTime %s, want %s", got, c.start)
			}
			if got := req.EndTime.Format("15:04:05"); got != c.end {
				t.Errorf("EndTime %s, want %s", got, c.end)
			}
			for _, q := range req.MetricDataQueries {
				if q.MetricStat != nil && time.Duration(q.MetricStat.Period)*time.Second != req.EndTime.Sub(req.StartTime.Time) {
					t.Errorf("query %s period %d s, want one period spanning the window", q.Id, q.MetricStat.Period)
				}
			}
		})
	}
}

func TestPartialDataIsNoData(t *testing.T) {
	f := newFakeCloudWatch(t)
	f.put("Test/Partial", "RequestCount", tg("tg-canary"), time.Date(2026, 11, 28, 9, 57, 0, 0, time.UTC), 10, 1)
	p := newProvider(t, f, "cbor", time.Millisecond)
	_, err := p.Query(context.Background(), query(rawStat("Test/Partial", "RequestCount", "tg-canary")))
	if !errors.Is(err, metrics.ErrNoData) || !errors.Is(err, cloudwatch.ErrPartial) {
		t.Errorf("PartialData = %v, want metrics.ErrNoData and cloudwatch.ErrPartial", err)
	}
}

func TestThrottlingRetried(t *testing.T) {
	for _, code := range []string{"ThrottlingException", "Throttling"} {
		t.Run(code, func(t *testing.T) {
			f := newFakeCloudWatch(t)
			publish(f, "tg-canary", 100, 2, 0, 40)
			f.throttle, f.throttleCode = 2, code
			p := newProvider(t, f, "cbor", time.Millisecond)
			r, err := p.Query(context.Background(), query(render(t, latticeQueries(t).ErrorRate, "tg-canary")))
			if err != nil {
				t.Fatalf("after two throttled answers: %v", err)
			}
			if r.Value != 0.02 {
				t.Errorf("value %v, want 0.02", r.Value)
			}
			if n := len(f.requestLog()); n != 3 {
				t.Errorf("%d requests, want 3 (two throttled, one answered)", n)
			}
		})
	}
}

func TestMaxAttempts(t *testing.T) {
	for _, c := range []struct {
		name string
		max  int
		want int
	}{{"default", 0, cloudwatch.DefaultMaxAttempts}, {"RetryMaxAttempts", 2, 2}} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeCloudWatch(t)
			f.throttle = 100
			p, err := cloudwatch.New(context.Background(), cloudwatch.Config{AWS: &aws.Config{
				Region:           "eu-west-2",
				Credentials:      credentials.NewStaticCredentialsProvider(testKeyID, testSecret, testToken),
				BaseEndpoint:     aws.String(f.server.URL),
				RetryMaxAttempts: c.max,
			}, ClientOptions: []func(*cw.Options){func(o *cw.Options) {
				// The standard retryer with its default back-off shortened.
				o.Retryer = retry.AddWithMaxBackoffDelay(o.Retryer, time.Millisecond)
			}}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Query(context.Background(), query(render(t, latticeQueries(t).ErrorRate, "tg-canary")))
			var api smithy.APIError
			if !errors.As(err, &api) {
				t.Fatalf("err = %v, want the throttling error", err)
			}
			if n := len(f.requestLog()); n != c.want {
				t.Errorf("%d attempts, want %d", n, c.want)
			}
		})
	}
}

func TestThrottlingStopsBeforeDeadline(t *testing.T) {
	f := newFakeCloudWatch(t)
	f.throttle = 1000
	// The back-off (an hour) cannot fit in the deadline (30 s): the
	// provider must give up at once with the throttling error, not sleep
	// until the deadline and report only that.
	p := newProvider(t, f, "cbor", time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := p.Query(ctx, query(render(t, latticeQueries(t).ErrorRate, "tg-canary")))
	if !errors.Is(err, cloudwatch.ErrThrottled) {
		t.Fatalf("err = %v, want cloudwatch.ErrThrottled", err)
	}
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "Throttling" { // the query code, from X-Amzn-Query-Error
		t.Errorf("the SDK's throttling error is not reachable: %v", err)
	}
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		t.Errorf("the provider waited for the deadline: %v", err)
	}
	if n := len(f.requestLog()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestNoCredentialInAnyError(t *testing.T) {
	f := newFakeCloudWatch(t)
	p := newProvider(t, f, "cbor", time.Hour)
	closed := newFakeCloudWatch(t)
	closed.server.Close()
	unreachable := newProvider(t, closed, "cbor", time.Millisecond)
	text := render(t, latticeQueries(t).ErrorRate, "tg-canary")
	short, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cases := map[string]func() error{
		"access denied": func() error {
			_, err := p.Query(short, query(rawStat("Test/Denied", "RequestCount", "tg")))
			return err
		},
		"invalid": func() error {
			_, err := p.Query(short, query(rawStat("Test/Invalid", "RequestCount", "tg")))
			return err
		},
		"throttled": func() error {
			f.mu.Lock()
			f.throttle = 1
			f.mu.Unlock()
			_, err := p.Query(short, query(text))
			return err
		},
		"no data": func() error {
			_, err := p.Query(short, query(rawStat(lattice, "TotalRequestCount", "tg-none")))
			return err
		},
		"bad text":    func() error { _, err := p.Query(short, query(`[{"Id":"Bad"}]`)); return err },
		"unreachable": func() error { _, err := unreachable.Query(short, query(text)); return err },
	}
	for name, run := range cases {
		err := run()
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		walk(err, func(e error) {
			msg := e.Error() + fmt.Sprintf(" %v %+v", e, e)
			for _, secret := range []string{testKeyID, testSecret, testToken} {
				if strings.Contains(msg, secret) {
					t.Errorf("%s: a credential appears in the error chain (%T): %s", name, e, msg)
				}
			}
		})
	}
	// The credentials were really used, so the test could have failed.
	h := f.headers[0]
	if !strings.Contains(h.Get("Authorization"), testKeyID) || h.Get("X-Amz-Security-Token") != testToken {
		t.Fatalf("the requests were not signed with the test credentials: %v", h)
	}
}

// walk calls fn on err and on every error it wraps, following both
// Unwrap() error and Unwrap() []error.
func walk(err error, fn func(error)) {
	if err == nil {
		return
	}
	fn(err)
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walk(e, fn)
		}
	default:
		walk(errors.Unwrap(err), fn)
	}
}

func TestQueryTextRefused(t *testing.T) {
	f := newFakeCloudWatch(t)
	p := newProvider(t, f, "cbor", time.Millisecond)
	for _, text := range []string{
		`not json`,
		`[]`,
		`{"Id":"value"}`,
		`[{"Id":"value","MetricStat":{"Metric":{"Namespace":"N","MetricName":"M"},"Stat":"Sum"}}] trailing`,
		`[{"Id":"Value","Expression":"1"}]`,
		`[{"Id":"a","Expression":"1"},{"Id":"a","Expression":"2"}]`,
		`[{"Id":"value"}]`,
		`[{"Id":"value","Expression":"1","MetricStat":{"Metric":{"Namespace":"N","MetricName":"M"},"Stat":"Sum"}}]`,
		`[{"Id":"value","MetricStat":{"Metric":{"Namespace":"N"},"Stat":"Sum"}}]`,
		`[{"Id":"value","MetricStat":{"Metric":{"Namespace":"N","MetricName":"M"}}}]`,
		`[{"Id":"value","MetricStat":{"Metric":{"Namespace":"N","MetricName":"M"},"Stat":"Sum","Period":-60}}]`,
		`[{"Id":"a","Expression":"1"},{"Id":"b","Expression":"2"}]`,
		`[{"Id":"value","Expresion":"1"}]`,
	} {
		_, err := p.Query(context.Background(), query(text))
		var fe *canary.FieldError
		if !errors.As(err, &fe) || fe.Field != "Query.Text" {
			t.Errorf("Query(%s) = %v, want a *canary.FieldError on Query.Text", text, err)
		}
	}
	if n := len(f.requestLog()); n != 0 {
		t.Errorf("%d requests were sent for refused queries", n)
	}
}

func TestValueNamedByReturnData(t *testing.T) {
	// Flagger's and Argo Rollouts' shape: no "value" id, one query
	// returning data.
	f := newFakeCloudWatch(t)
	publish(f, "tg-canary", 100, 2, 0, 40)
	p := newProvider(t, f, "json", time.Millisecond)
	text := `[{"Id":"e1","Expression":"m1 * 100 / m2"},
	 {"Id":"m1","MetricStat":{"Metric":{"Namespace":"AWS/VpcLattice","MetricName":"HTTPCode_5XX_Count","Dimensions":[{"Name":"TargetGroup","Value":"tg-canary"}]},"Stat":"Sum"},"ReturnData":false},
	 {"Id":"m2","MetricStat":{"Metric":{"Namespace":"AWS/VpcLattice","MetricName":"TotalRequestCount","Dimensions":[{"Name":"TargetGroup","Value":"tg-canary"}]},"Stat":"Sum"},"ReturnData":false}]`
	r, err := p.Query(context.Background(), query(text))
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(r.Value-2) > 1e-12 || r.Count != 0 {
		t.Errorf("value %v (count %d), want 2 %% (count unknown)", r.Value, r.Count)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for name, c := range map[string]cloudwatch.Config{
		"no region":    {AWS: &aws.Config{}},
		"period 45 s":  {AWS: &aws.Config{Region: "eu-west-2"}, Period: 45 * time.Second},
		"period 90 s":  {AWS: &aws.Config{Region: "eu-west-2"}, Period: 90 * time.Second},
		"period 1.5 s": {AWS: &aws.Config{Region: "eu-west-2"}, Period: 1500 * time.Millisecond},
		"delay":        {AWS: &aws.Config{Region: "eu-west-2"}, Delay: -time.Second},
		"period -60 s": {AWS: &aws.Config{Region: "eu-west-2"}, Period: -time.Minute},
	} {
		var fe *canary.FieldError
		if _, err := cloudwatch.New(context.Background(), c); !errors.As(err, &fe) {
			t.Errorf("%s: New = %v, want a *canary.FieldError", name, err)
		}
	}
	for _, ok := range []time.Duration{0, time.Second, 10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute} {
		if _, err := cloudwatch.New(context.Background(), cloudwatch.Config{AWS: &aws.Config{Region: "eu-west-2"}, Period: ok}); err != nil {
			t.Errorf("Period %v refused: %v", ok, err)
		}
	}
}

func TestHighResolutionPeriod(t *testing.T) {
	f := newFakeCloudWatch(t)
	for s := range 10 {
		f.put("Custom/App", "RequestCount", tg("tg-canary"), end.Add(time.Duration(-10+s)*time.Second), 1, 1)
	}
	p := newProvider(t, f, "cbor", time.Millisecond, func(c *cloudwatch.Config) { c.Period = 10 * time.Second })
	r, err := p.Query(context.Background(), metrics.Query{Text: rawStat("Custom/App", "RequestCount", "tg-canary"), Window: 10 * time.Second, End: end})
	if err != nil {
		t.Fatal(err)
	}
	if r.Value != 10 {
		t.Errorf("value %v, want 10", r.Value)
	}
}

// With a nil Config.AWS the provider takes everything from the SDK's
// default chain: here the environment (region, keys, endpoint), with the
// shared files and the instance metadata service out of reach.
func TestDefaultChain(t *testing.T) {
	f := newFakeCloudWatch(t)
	publish(f, "tg-canary", 100, 2, 0, 40)
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_REGION":                  "eu-west-2",
		"AWS_ACCESS_KEY_ID":           testKeyID,
		"AWS_SECRET_ACCESS_KEY":       testSecret,
		"AWS_SESSION_TOKEN":           testToken,
		"AWS_ENDPOINT_URL_CLOUDWATCH": f.server.URL,
		"AWS_CONFIG_FILE":             dir + "/config",
		"AWS_SHARED_CREDENTIALS_FILE": dir + "/credentials",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_PROFILE":                 "",
	} {
		t.Setenv(k, v)
	}
	p, err := cloudwatch.New(context.Background(), cloudwatch.Config{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.Query(context.Background(), query(render(t, latticeQueries(t).ErrorRate, "tg-canary")))
	if err != nil || r.Value != 0.02 {
		t.Fatalf("Query = (%v, %v), want 0.02", r.Value, err)
	}
	if h := f.headers[0]; !strings.Contains(h.Get("Authorization"), testKeyID) || h.Get("X-Amz-Security-Token") != testToken {
		t.Errorf("the request was not signed with the environment's credentials")
	}
	// No region anywhere: refused, naming the field.
	t.Setenv("AWS_REGION", "")
	var fe *canary.FieldError
	if _, err := cloudwatch.New(context.Background(), cloudwatch.Config{}); !errors.As(err, &fe) || fe.Field != "Config.AWS.Region" {
		t.Errorf("New without a region = %v, want a *canary.FieldError on Config.AWS.Region", err)
	}
}

// TestLatencyUnitChecked is issue 19 item 4: the Lattice latency template
// names the unit RequestTime is published in (Milliseconds) and answers
// in seconds; a RequestTime published in another unit reads as no data,
// not as a value a factor of 1000 off.
func TestLatencyUnitChecked(t *testing.T) {
	f := newFakeCloudWatch(t)
	publish(f, "tg-canary", 100, 0, 0, 40)
	f.setUnit(lattice, "RequestTime", tg("tg-canary"), "Seconds")
	p := newProvider(t, f, "cbor", time.Millisecond)
	text := render(t, latticeQueries(t).Latency, "tg-canary")
	if !strings.Contains(text, `"Unit": "Milliseconds"`) {
		t.Errorf("the latency template names no unit:\n%s", text)
	}
	r, err := p.Query(context.Background(), query(text))
	if !errors.Is(err, metrics.ErrNoData) {
		t.Errorf("latency over a RequestTime in seconds = %v, %v; want no data", r.Value, err)
	}
}
