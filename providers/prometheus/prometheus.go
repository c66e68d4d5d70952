package prometheus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
)

// DefaultTimeout is the per-query timeout used when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// DefaultResolution is the smallest window accepted when
// Config.Resolution is zero: Prometheus's timestamps have millisecond
// precision, but a rate over less than a second (or less than the scrape
// interval) has no samples to work on.
const DefaultResolution = time.Second

// maxPoints is Prometheus's limit on the points of one range query series.
const maxPoints = metrics.MaxPoints

// ErrSeveralSeries is returned (wrapped) when a query that should give one
// number answers several series. The error's text lists their labels.
// Aggregate in the query (sum, max, …) to get one series.
//
// It is [metrics.ErrSeveralSeries], the same sentinel for every provider.
var ErrSeveralSeries = metrics.ErrSeveralSeries

// ErrRangeVector is returned (wrapped) when an instant query answers a
// range vector (a selector like x[5m] not wrapped in a function).
// Its code is [canary.InvalidArgument]: the query must change.
var ErrRangeVector = canary.NewError(canary.InvalidArgument, "prometheus: instant query answered a range vector")

// BasicAuth is a user name and password sent with every request.
type BasicAuth struct {
	Username string
	Password string // a secret: never shown in errors or logs
}

// TLS configures the client side of TLS. The zero value verifies the
// server against the system's roots and sends no client certificate.
type TLS struct {
	// CAFile is a PEM file of certificates to trust instead of the
	// system's roots; empty uses the system's roots.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and its key, for
	// mutual TLS; both or neither.
	CertFile string
	KeyFile  string
	// ServerName overrides the name the server's certificate is checked
	// against; empty uses the host of Config.Address.
	ServerName string
	// InsecureSkipVerify turns off verification of the server's
	// certificate. For tests only.
	InsecureSkipVerify bool
}

// Config configures a Provider. Only Address is required.
type Config struct {
	// Address is the server's base URL, e.g. "http://prometheus:9090" or
	// "https://mimir.example/prometheus". It must be http or https and must
	// not carry credentials (use BasicAuth).
	Address string
	// BearerToken, when not empty, is sent as "Authorization: Bearer …".
	// It excludes BasicAuth.
	BearerToken string
	// BasicAuth, when not nil, is sent with every request.
	BasicAuth *BasicAuth
	// Headers are added to every request (for example X-Scope-OrgID for
	// Mimir). Their values are treated as secrets. Authorization may be set
	// here only when BearerToken and BasicAuth are not.
	Headers map[string]string
	// TLS configures https connections.
	TLS TLS
	// Timeout bounds each call to Query (both requests when WithCount is
	// used) and to Range, and is passed to the server as its evaluation timeout. Zero
	// means DefaultTimeout; it must not be negative.
	Timeout time.Duration
	// Step, when positive, makes Query send a range query with this step
	// over the window and return its points as Result.Samples. Zero sends
	// an instant query and leaves Samples nil. It must be at least
	// Resolution.
	Step time.Duration
	// Resolution is the smallest Query.Window accepted: set it to the
	// scrape interval. Zero means DefaultResolution (1s).
	Resolution time.Duration
	// Transport, when not nil, carries the requests instead of a transport
	// built from TLS (which must then be zero). Authentication and Headers
	// are still added.
	Transport http.RoundTripper
}

// String describes c with its secrets replaced by "[REDACTED]".
func (c Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "prometheus.Config{Address: %q", c.Address)
	if c.BearerToken != "" {
		b.WriteString(", BearerToken: [REDACTED]")
	}
	if c.BasicAuth != nil {
		fmt.Fprintf(&b, ", BasicAuth: %q:[REDACTED]", c.BasicAuth.Username)
	}
	if len(c.Headers) > 0 {
		b.WriteString(", Headers: {")
		first := true
		for _, k := range sortedKeys(c.Headers) {
			if !first {
				b.WriteString(", ")
			}
			first = false
			fmt.Fprintf(&b, "%s: [REDACTED]", k)
		}
		b.WriteString("}")
	}
	if c.TLS != (TLS{}) {
		fmt.Fprintf(&b, ", TLS: %+v", c.TLS)
	}
	fmt.Fprintf(&b, ", Timeout: %v, Step: %v, Resolution: %v}", c.Timeout, c.Step, c.Resolution)
	return b.String()
}

// GoString is String, so that %#v does not print secrets either.
func (c Config) GoString() string { return c.String() }

// LogValue is String, so that log/slog does not print secrets either.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// String shows the user name and hides the password.
func (b BasicAuth) String() string { return fmt.Sprintf("%q:[REDACTED]", b.Username) }

// GoString is String.
func (b BasicAuth) GoString() string { return b.String() }

// LogValue is String.
func (b BasicAuth) LogValue() slog.Value { return slog.StringValue(b.String()) }

// querier is the one method the driver needs from a Prometheus client,
// so that client_golang's signatures stay inside this file. A zero r.Step
// asks for an instant query at r.End.
type querier interface {
	query(ctx context.Context, text string, r v1.Range, timeout time.Duration) (model.Value, error)
}

type clientQuerier struct{ api v1.API }

func (c clientQuerier) query(ctx context.Context, text string, r v1.Range, timeout time.Duration) (model.Value, error) {
	opts := []v1.Option{v1.WithTimeout(timeout)}
	if r.Step == 0 {
		v, _, _, err := c.api.Query(ctx, text, r.End, opts...)
		return v, err
	}
	v, _, _, err := c.api.QueryRange(ctx, text, r, opts...)
	return v, err
}

// Provider is a [metrics.Provider] backed by a Prometheus server: a
// [metrics.Source] (which validates queries, reads NaN and empty answers
// as no data, refuses several series and classifies errors) over this
// package's driver, which sends instant queries (/api/v1/query) and range
// queries (/api/v1/query_range). Build it with New; it is safe for
// concurrent use. The zero Provider (and a nil *Provider) refuses every
// query with a *[canary.FieldError].
type Provider struct {
	src   *metrics.Source // over d
	plain *metrics.Source // over d without Config.Step: WithCount's count
	d     *driver
}

// driver is the Prometheus [metrics.Driver] and [metrics.Ranger].
type driver struct {
	q          querier
	timeout    time.Duration
	step       time.Duration
	resolution time.Duration
	redact     *strings.Replacer // nil when there are no secrets
}

// New checks cfg and returns a Provider. It sends no request. Every error
// is a *[canary.FieldError] naming the Config field.
func New(cfg Config) (*Provider, error) {
	if err := validateAddress(cfg.Address); err != nil {
		return nil, err
	}
	switch {
	case cfg.Timeout < 0:
		return nil, canary.Invalid("Config.Timeout", cfg.Timeout, "must not be negative")
	case cfg.Resolution < 0:
		return nil, canary.Invalid("Config.Resolution", cfg.Resolution, "must not be negative")
	case cfg.Step < 0:
		return nil, canary.Invalid("Config.Step", cfg.Step, "must not be negative")
	}
	d := &driver{timeout: cfg.Timeout, step: cfg.Step, resolution: cfg.Resolution}
	if d.timeout == 0 {
		d.timeout = DefaultTimeout
	}
	if d.resolution == 0 {
		d.resolution = DefaultResolution
	}
	if d.step != 0 && d.step < d.resolution {
		return nil, canary.Invalid("Config.Step", cfg.Step, "must be at least the resolution (%v)", d.resolution)
	}
	rt, secrets, err := transport(cfg)
	if err != nil {
		return nil, err
	}
	d.redact = redactor(secrets)
	c, err := api.NewClient(api.Config{Address: cfg.Address, RoundTripper: rt})
	if err != nil {
		return nil, canary.Invalid("Config.Address", cfg.Address, "%v", err)
	}
	d.q = clientQuerier{api: v1.NewAPI(c)}
	// Prometheus has no rate-limit protocol to wait on: a 429 (from a
	// proxy or Mimir's limits) is returned at once, as ErrRateLimited.
	opts := metrics.Config{Name: "prometheus", Dialect: metrics.PromQL, Resolution: d.resolution, MaxRetries: -1}
	plain := *d
	plain.step = 0
	return &Provider{src: metrics.NewSource(d, opts), plain: metrics.NewSource(&plain, opts), d: d}, nil
}

func validateAddress(addr string) error {
	if addr == "" {
		return canary.Invalid("Config.Address", addr, "must be set, e.g. http://prometheus:9090")
	}
	u, err := url.Parse(addr)
	if err != nil {
		// url.Parse's error quotes the input, which may hold credentials.
		return canary.Invalid("Config.Address", nil, "is not a URL")
	}
	if u.User != nil {
		return canary.Invalid("Config.Address", nil, "must not carry credentials; use Config.BasicAuth")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return canary.Invalid("Config.Address", addr, "must be an http or https URL")
	}
	if u.Host == "" {
		return canary.Invalid("Config.Address", addr, "has no host")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return canary.Invalid("Config.Address", addr, "must not have a query or fragment")
	}
	return nil
}

func (p *Provider) usable() error {
	if p == nil || p.src == nil {
		return canary.Invalid("Provider", nil, "is the zero Provider; build it with New")
	}
	return nil
}

// Query evaluates q.Text at q.End (see the package documentation for
// instant queries and Config.Step). q.Window must be at least the
// configured resolution; a bad q is refused with a *[canary.FieldError]
// before any request is sent. The rate window inside q.Text is the one the
// template's {{window}} was rendered with; render it with q.Window so that
// both agree (q.Window itself only bounds the range of Samples).
func (p *Provider) Query(ctx context.Context, q metrics.Query) (metrics.Result, error) {
	if err := p.usable(); err != nil {
		return metrics.Result{}, err
	}
	return p.src.Query(ctx, q)
}

// Range evaluates q.Text at q.Start, q.Start+q.Step, … up to q.End with
// one range query (/api/v1/query_range), and returns the one series'
// points, oldest first; points Prometheus has no value for, and NaN and
// ±Inf ones, are left out, and no point at all is [metrics.ErrNoData]. The
// rate window inside q.Text is the one its template's {{window}} was
// rendered with; q.Window (at least the resolution) is only checked.
// Errors are those of Query.
func (p *Provider) Range(ctx context.Context, q metrics.RangeQuery) ([]metrics.Point, error) {
	if err := p.usable(); err != nil {
		return nil, err
	}
	return p.src.Range(ctx, q)
}

// Source returns the portable [metrics.Source] p answers through (nil for
// the zero Provider).
func (p *Provider) Source() *metrics.Source {
	if p == nil {
		return nil
	}
	return p.src
}

// serverTimeout is the evaluation timeout to ask the server for: the
// configured timeout, or less when the caller's deadline is nearer, so the
// server gives up no later than the caller does.
func (d *driver) serverTimeout(ctx context.Context) time.Duration {
	t := d.timeout
	if dl, ok := ctx.Deadline(); ok {
		t = min(t, time.Until(dl))
	}
	// client_golang sends Duration.String(), and Prometheus's duration
	// syntax has no fractions ("29.994s" is refused with a 400): whole
	// seconds from a second up, whole milliseconds below.
	if t >= time.Second {
		return t.Truncate(time.Second)
	}
	return max(t.Truncate(time.Millisecond), time.Millisecond)
}

// Instant sends q (validated by the Source) as an instant query at q.End,
// or, with Config.Step set, as a range query over the window whose last
// point is the value and whose points are the samples.
func (d *driver) Instant(ctx context.Context, q metrics.Query) ([]metrics.Series, error) {
	if d.step > 0 && q.Window/d.step > maxPoints {
		return nil, canary.Invalid("Query.Window", q.Window, "has more than %d points of step %v", maxPoints, d.step)
	}
	r := v1.Range{End: q.End}
	if d.step > 0 {
		// Points at End, End-Step, … down to just after Start, so that the
		// last point is exactly End and none is at or before Start.
		n := (q.Window - 1) / d.step
		r.Start = q.End.Add(-n * d.step)
		r.Step = d.step
	}
	v, err := d.send(ctx, q.Text, r)
	if err != nil {
		return nil, d.wrap(q, err)
	}
	series, err := decode(v, r)
	if err != nil {
		return nil, d.wrap(q, err)
	}
	return d.scrubLabels(series), nil
}

// Range sends q (validated by the Source) as one range query.
func (d *driver) Range(ctx context.Context, q metrics.RangeQuery) ([]metrics.Series, error) {
	r := v1.Range{Start: q.Start, End: q.End, Step: q.Step}
	v, err := d.send(ctx, q.Text, r)
	if err != nil {
		return nil, d.wrapRange(q, err)
	}
	series, err := decodeRange(v)
	if err != nil {
		return nil, d.wrapRange(q, err)
	}
	return d.scrubLabels(series), nil
}

// ErrorCode classifies the client's errors (see classify).
func (d *driver) ErrorCode(err error) canary.ErrorCode { return canary.Code(classify(err)) }

// send runs one request within the configured timeout.
func (d *driver) send(ctx context.Context, text string, r v1.Range) (model.Value, error) {
	timeout := d.serverTimeout(ctx)
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	v, err := d.q.query(ctx, text, r, timeout)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w: %w", ctxErr, err)
		}
		return nil, err
	}
	return v, nil
}

// scrubLabels removes secrets from the labels the Source may show.
func (d *driver) scrubLabels(series []metrics.Series) []metrics.Series {
	if d.redact != nil {
		for i := range series {
			series[i].Labels = d.redact.Replace(series[i].Labels)
		}
	}
	return series
}

// wrap adds the query to err and removes every secret from the whole
// chain: not only from the text err shows, but from every error reachable
// with errors.Unwrap (one error or several), since a server may echo a
// header back in its error and a caller may unwrap to it.
func (d *driver) wrap(q metrics.Query, err error) error {
	return d.scrub(fmt.Errorf("prometheus: %q at %s: %w", q.Text, q.End.UTC().Format(time.RFC3339), classify(err)))
}

func (d *driver) wrapRange(q metrics.RangeQuery, err error) error {
	return d.scrub(fmt.Errorf("prometheus: %q from %s to %s: %w", q.Text,
		q.Start.UTC().Format(time.RFC3339), q.End.UTC().Format(time.RFC3339), classify(err)))
}

// scrub returns err unchanged when no error in its chain shows a secret,
// and otherwise a copy of the chain in which each error that shows one,
// or holds one that does, is replaced: a *v1.Error by a redacted copy,
// any other error by a redactedError with its redacted text, the scrubbed
// errors it wrapped, and errors.Is still matching what it matched.
func (d *driver) scrub(err error) error {
	if err == nil || d.redact == nil || !d.dirty(err) {
		return err
	}
	if ve, ok := err.(*v1.Error); ok {
		return &v1.Error{Type: ve.Type, Msg: d.redact.Replace(ve.Msg), Detail: d.redact.Replace(ve.Detail)}
	}
	var kids []error
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		if k := u.Unwrap(); k != nil {
			kids = []error{d.scrub(k)}
		}
	case interface{ Unwrap() []error }:
		for _, k := range u.Unwrap() {
			if k != nil {
				kids = append(kids, d.scrub(k))
			}
		}
	}
	orig := err
	return &redactedError{
		msg:  d.redact.Replace(err.Error()),
		kids: kids,
		is: func(target error) bool {
			if x, ok := orig.(interface{ Is(error) bool }); ok && x.Is(target) {
				return true
			}
			return reflect.TypeOf(target).Comparable() && reflect.TypeOf(orig).Comparable() && orig == target
		},
	}
}

// dirty reports whether err, or any error in its chain, shows a secret.
func (d *driver) dirty(err error) bool {
	if s := err.Error(); d.redact.Replace(s) != s {
		return true
	}
	if ve, ok := err.(*v1.Error); ok && (d.redact.Replace(ve.Msg) != ve.Msg || d.redact.Replace(ve.Detail) != ve.Detail) {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		if k := u.Unwrap(); k != nil {
			return d.dirty(k)
		}
	case interface{ Unwrap() []error }:
		for _, k := range u.Unwrap() {
			if k != nil && d.dirty(k) {
				return true
			}
		}
	}
	return false
}

// redactedError stands for an error whose text showed a secret: it shows
// the redacted text and unwraps to the scrubbed errors the original
// wrapped. It keeps no reference to the original that formatting could
// reach (is is a closure), so %#v shows no secret either.
type redactedError struct {
	msg  string
	kids []error
	is   func(error) bool
}

func (e *redactedError) Error() string        { return e.msg }
func (e *redactedError) Unwrap() []error      { return e.kids }
func (e *redactedError) Is(target error) bool { return e.is(target) }

// decode turns an instant query's answer (or, with r.Step set, the range
// query Config.Step makes of it) into series: none for an empty answer,
// several with their labels only (the Source refuses them), one with its
// value and, for a range, its points as samples. NaN and ±Inf are passed
// on as they came; the Source reads them as no data.
func decode(v model.Value, r v1.Range) ([]metrics.Series, error) {
	switch v := v.(type) {
	case *model.Scalar:
		if v == nil {
			return nil, nil
		}
		return []metrics.Series{{Result: metrics.Result{Value: float64(v.Value)}}}, nil
	case model.Vector:
		if len(v) > 1 {
			return labelsOnly(len(v), func(i int) model.Metric { return v[i].Metric }), nil
		}
		if len(v) == 0 {
			return nil, nil
		}
		if v[0].Histogram != nil {
			return nil, fmt.Errorf("prometheus: %s is a native histogram; apply histogram_quantile or similar", v[0].Metric)
		}
		return []metrics.Series{{Labels: v[0].Metric.String(), Result: metrics.Result{Value: float64(v[0].Value)}}}, nil
	case model.Matrix:
		if len(v) > 1 {
			return labelsOnly(len(v), func(i int) model.Metric { return v[i].Metric }), nil
		}
		if len(v) == 0 {
			return nil, nil
		}
		if r.Step == 0 {
			return nil, fmt.Errorf("%w: wrap %s's selector in a function such as rate()", ErrRangeVector, v[0].Metric)
		}
		pts := v[0].Values
		if len(pts) == 0 {
			return nil, fmt.Errorf("%w: no points", metrics.ErrNoData)
		}
		samples := make([]float64, 0, len(pts))
		for _, pt := range pts {
			samples = append(samples, float64(pt.Value))
		}
		last := pts[len(pts)-1]
		if !last.Timestamp.Time().Equal(r.End.Truncate(time.Millisecond)) {
			return nil, fmt.Errorf("%w: no point at the end of the window (last at %s)",
				metrics.ErrNoData, last.Timestamp.Time().UTC().Format(time.RFC3339Nano))
		}
		return []metrics.Series{{Labels: v[0].Metric.String(), Result: metrics.Result{Value: float64(last.Value), Samples: samples}}}, nil
	case *model.String:
		return nil, fmt.Errorf("prometheus: query answered a string, not a number")
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("prometheus: unexpected answer of type %s", v.Type())
}

// decodeRange turns a range query's answer into series with points.
func decodeRange(v model.Value) ([]metrics.Series, error) {
	switch v := v.(type) {
	case model.Matrix:
		if len(v) > 1 {
			return labelsOnly(len(v), func(i int) model.Metric { return v[i].Metric }), nil
		}
		out := make([]metrics.Series, 0, len(v))
		for _, s := range v {
			if len(s.Values) == 0 && len(s.Histograms) > 0 {
				return nil, fmt.Errorf("prometheus: %s is a native histogram; apply histogram_quantile or similar", s.Metric)
			}
			pts := make([]metrics.Point, 0, len(s.Values))
			for _, pt := range s.Values {
				pts = append(pts, metrics.Point{Time: pt.Timestamp.Time().UTC(), Value: float64(pt.Value)})
			}
			out = append(out, metrics.Series{Labels: s.Metric.String(), Points: pts})
		}
		return out, nil
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("prometheus: a range query answered a %s, not a matrix", v.Type())
}

// labelsOnly lists n series by their labels, for the Source's error.
func labelsOnly(n int, metric func(int) model.Metric) []metrics.Series {
	out := make([]metrics.Series, n)
	for i := range out {
		out[i].Labels = metric(i).String()
	}
	return out
}

// WithCount returns a Provider that answers as p does and fills
// Result.Count with the value of count (for example Queries.RequestCount),
// rendered with vars and the query's window and evaluated as an instant
// query at the query's End, rounded to the nearest whole number. A count
// with no data leaves Count 0 (unknown); a failing count query fails the
// Query. Both requests share p's timeout.
//
// The Provider returned also answers range queries, as p.Range does, with
// each point's Count from a second range query of count over the same
// instants, matched by timestamp (a point whose count Prometheus has no
// value for keeps Count 0; a failing count query fails the Range). This is
// what a rollout reads the stable version's history per window with
// (rollback.Metric.Baseline).
func (p *Provider) WithCount(count metrics.Template, vars metrics.Vars) (metrics.Provider, error) {
	if err := p.usable(); err != nil {
		return nil, err
	}
	if count.Dialect() != metrics.PromQL {
		return nil, canary.Invalid("count", count.Name(), "must be a PromQL template")
	}
	probe := vars
	probe.Window = time.Minute
	if _, err := count.Render(probe); err != nil {
		return nil, err
	}
	return &counted{p: p, count: count, vars: vars}, nil
}

// counted is the Provider WithCount returns.
type counted struct {
	p     *Provider
	count metrics.Template
	vars  metrics.Vars
}

// text renders the count query at window w.
func (c *counted) text(w time.Duration) (string, error) {
	v := c.vars
	v.Window = w
	return c.count.Render(v)
}

// Query answers q as the Provider does, with the count at q.End.
func (c *counted) Query(ctx context.Context, q metrics.Query) (metrics.Result, error) {
	if err := q.Validate(); err != nil {
		return metrics.Result{}, err
	}
	text, err := c.text(q.Window)
	if err != nil {
		return metrics.Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.p.d.timeout)
	defer cancel()
	res, err := c.p.src.Query(ctx, q)
	if err != nil {
		return metrics.Result{}, err
	}
	cq := metrics.Query{Text: text, Window: q.Window, End: q.End}
	n, err := c.p.plain.Query(ctx, cq)
	switch {
	case errors.Is(err, metrics.ErrNoData):
		return res, nil
	case err != nil:
		return metrics.Result{}, err
	}
	if res.Count, err = c.asCount(cq, n.Value); err != nil {
		return metrics.Result{}, err
	}
	return res, nil
}

// Range answers q as the Provider's Range does, each point with the
// count at its instant (one more range query).
func (c *counted) Range(ctx context.Context, q metrics.RangeQuery) ([]metrics.Point, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	text, err := c.text(q.Window)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.p.d.timeout)
	defer cancel()
	pts, err := c.p.src.Range(ctx, q)
	if err != nil {
		return nil, err
	}
	cq := q
	cq.Text = text
	ns, err := c.p.plain.Range(ctx, cq)
	switch {
	case errors.Is(err, metrics.ErrNoData):
		return pts, nil
	case err != nil:
		return nil, err
	}
	at := make(map[int64]float64, len(ns))
	for _, n := range ns {
		at[n.Time.UnixMilli()] = n.Value
	}
	for i := range pts {
		v, ok := at[pts[i].Time.UnixMilli()]
		if !ok {
			continue
		}
		if pts[i].Count, err = c.asCount(metrics.Query{Text: text, Window: q.Window, End: pts[i].Time}, v); err != nil {
			return nil, err
		}
	}
	return pts, nil
}

// asCount reads the value v of count query cq as a whole number.
func (c *counted) asCount(cq metrics.Query, v float64) (int64, error) {
	if v < 0 || v > math.MaxInt64/2 {
		return 0, c.p.d.wrap(cq, fmt.Errorf("prometheus: count %v is not a count", v))
	}
	return int64(math.Round(v)), nil
}
