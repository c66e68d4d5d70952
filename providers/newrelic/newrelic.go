package newrelic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/meshcanary/canary/internal/ratelimit"

	"github.com/newrelic/newrelic-client-go/v2/pkg/config"
	"github.com/newrelic/newrelic-client-go/v2/pkg/nrdb"
	"github.com/newrelic/newrelic-client-go/v2/pkg/region"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
)

// Regions.
const (
	RegionUS = "US" // the default; NerdGraph at https://api.newrelic.com/graphql
	RegionEU = "EU" // NerdGraph at https://api.eu.newrelic.com/graphql
)

var nerdGraphURL = map[string]string{
	RegionUS: "https://api.newrelic.com/graphql",
	RegionEU: "https://api.eu.newrelic.com/graphql",
}

// Defaults used for zero Config fields.
const (
	// DefaultResolution is the shortest window accepted: NRQL's SINCE and
	// UNTIL take milliseconds, but New Relic aggregates at one second at
	// best.
	DefaultResolution = time.Second
	DefaultMaxRetries = ratelimit.DefaultMaxRetries
	DefaultMaxWait    = ratelimit.DefaultMaxWait
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrUnauthorized: NerdGraph refused the key (401, 403 or BAD_API_KEY).
	// It is [metrics.ErrUnauthorized] (code [canary.Unauthorized]).
	ErrUnauthorized = metrics.ErrUnauthorized
	// ErrRateLimited: NerdGraph answered 429 or TOO_MANY_REQUESTS and the
	// adapter gave up waiting.
	// It is [metrics.ErrRateLimited] (code [canary.RateLimited]).
	ErrRateLimited = metrics.ErrRateLimited
	// ErrMultipleRows: the query answered several rows where one value was
	// expected (a FACET or TIMESERIES query through Query).
	// It is [metrics.ErrSeveralSeries] (code [canary.InvalidArgument]).
	ErrMultipleRows = metrics.ErrSeveralSeries
)

// Config configures a Provider. APIKey and AccountID are required; every
// other zero field means the documented default.
type Config struct {
	// APIKey is a New Relic user key (NRAK-…), sent as the Api-Key header;
	// it appears in no error or log line.
	APIKey string
	// AccountID is the account the NRQL runs in; it must be positive.
	AccountID int
	// Region is RegionUS or RegionEU (any case); "" is RegionUS.
	Region string
	// BaseURL, when set, replaces the region's NerdGraph URL (the full
	// endpoint, e.g. "http://127.0.0.1:8080/graphql"), for tests and proxies.
	BaseURL string
	// Resolution is the shortest window accepted; 0 is DefaultResolution.
	Resolution time.Duration
	// Timeout bounds each HTTP request; 0 leaves only the context's
	// deadline (and the client's own 30 s default).
	Timeout time.Duration
	// MaxRetries is how often a rate-limited answer is retried; 0 is
	// DefaultMaxRetries and a negative value never retries.
	MaxRetries int
	// MaxWait is the longest wait for a rate limit that the adapter
	// accepts; a longer one fails at once. 0 is DefaultMaxWait.
	MaxWait time.Duration
	// Transport sends the requests; nil is http.DefaultTransport.
	Transport http.RoundTripper
	// Logger receives the client's log lines (at Debug and below) and a
	// line per rate-limit wait, with the key redacted; nil discards them.
	Logger *slog.Logger
}

// Provider is a [metrics.Provider] running NRQL through NerdGraph: a
// [metrics.Source] (which validates queries, applies the rate-limit
// budget, reads nulls, NaN and empty answers as no data, refuses several
// rows and classifies errors) over this package's driver, which sends the
// NRQL and decodes its rows. It is safe for concurrent use. Build it with
// New; the zero Provider is not usable.
type Provider struct {
	d   *driver
	src *metrics.Source // over driver: instant queries, and range queries with one TIMESERIES query
}

// driver is the New Relic [metrics.Driver] and [metrics.Ranger].
type driver struct {
	key        string
	accountID  int
	region     region.Region
	resolution time.Duration
	timeout    time.Duration
	maxRetries int
	maxWait    time.Duration
	base       http.RoundTripper
	log        *slog.Logger
}

var _ metrics.Provider = (*Provider)(nil)

// New checks cfg and returns a Provider. It sends no request. Every refused
// field is reported as a *[canary.FieldError].
func New(cfg Config) (*Provider, error) {
	if cfg.APIKey == "" {
		return nil, canary.Invalid("Config.APIKey", nil, "must be set to a New Relic user key")
	}
	if strings.ContainsAny(cfg.APIKey, " \t\r\n") {
		return nil, canary.Invalid("Config.APIKey", nil, "must not contain white space")
	}
	if cfg.AccountID <= 0 {
		return nil, canary.Invalid("Config.AccountID", cfg.AccountID, "must be a positive New Relic account ID")
	}
	p := &driver{
		key:        cfg.APIKey,
		accountID:  cfg.AccountID,
		resolution: cfg.Resolution,
		timeout:    cfg.Timeout,
		maxRetries: cfg.MaxRetries,
		maxWait:    cfg.MaxWait,
		base:       cfg.Transport,
		log:        cfg.Logger,
	}
	name := strings.ToUpper(cfg.Region)
	if name == "" {
		name = RegionUS
	}
	endpoint, ok := nerdGraphURL[name]
	if !ok {
		return nil, canary.Invalid("Config.Region", cfg.Region, "must be %q or %q", RegionUS, RegionEU)
	}
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			shown := "(unparsable)"
			if u != nil {
				shown = u.Redacted()
			}
			return nil, canary.Invalid("Config.BaseURL", shown, "must be an http or https URL with a host and no user, query or fragment")
		}
		endpoint = cfg.BaseURL
	}
	reg, err := region.Get(region.Name(name))
	if err != nil {
		return nil, canary.Invalid("Config.Region", cfg.Region, "unknown to the client: %v", err)
	}
	reg.SetNerdGraphBaseURL(endpoint) // also overrides NEW_RELIC_NERDGRAPH_BASE_URL
	p.region = *reg
	switch {
	case p.resolution == 0:
		p.resolution = DefaultResolution
	case p.resolution < time.Millisecond || p.resolution%time.Millisecond != 0:
		return nil, canary.Invalid("Config.Resolution", cfg.Resolution, "must be a positive whole number of milliseconds")
	}
	if p.timeout < 0 {
		return nil, canary.Invalid("Config.Timeout", cfg.Timeout, "must not be negative")
	}
	if p.maxRetries, p.maxWait, err = ratelimit.Budget(p.maxRetries, p.maxWait); err != nil {
		return nil, err
	}
	if p.base == nil {
		p.base = http.DefaultTransport
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	maxRetries := p.maxRetries
	if maxRetries == 0 {
		maxRetries = -1 // the Source's "never"
	}
	opts := metrics.Config{Name: "newrelic", Dialect: metrics.NRQL, Resolution: p.resolution,
		MaxRetries: maxRetries, MaxWait: p.maxWait, Logger: p.log}
	return &Provider{d: p, src: metrics.NewSource(p, opts)}, nil
}

// Render renders t, which must be in the [metrics.NRQL] dialect, with v.
func Render(t metrics.Template, v metrics.Vars) (string, error) {
	if t.Dialect() != metrics.NRQL {
		return "", canary.Invalid("Template.Dialect", t.Dialect().String(), "must be metrics.NRQL for the New Relic provider")
	}
	return t.Render(v)
}

// NRQL returns the query the provider would send for q: q.Text with the
// window appended as SINCE and UNTIL in epoch milliseconds. It returns a
// *[canary.FieldError] for a query Query would refuse.
func (p *Provider) NRQL(q metrics.Query) (string, error) {
	if err := p.usable(); err != nil {
		return "", err
	}
	if err := q.Validate(); err != nil {
		return "", err
	}
	if q.Window < p.d.resolution {
		return "", canary.Invalid("Query.Window", q.Window, "must be at least the resolution (%v)", p.d.resolution)
	}
	return p.d.nrql(q)
}

func (p *Provider) usable() error {
	if p == nil || p.d == nil {
		return canary.Invalid("Provider", nil, "is the zero Provider; build it with New")
	}
	return nil
}

// nrql appends the window of q (validated) to its text, after the checks
// the text and window need.
func (d *driver) nrql(q metrics.Query) (string, error) {
	from, to, err := window("Query", q.Window, q.End)
	if err != nil {
		return "", err
	}
	if err := checkText("Query.Text", q.Text); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s SINCE %d UNTIL %d", strings.TrimSpace(q.Text), from, to), nil
}

// window returns the bounds, in epoch milliseconds, of a window ending at
// end.
func window(query string, w time.Duration, end time.Time) (from, to int64, err error) {
	if w%time.Millisecond != 0 {
		return 0, 0, canary.Invalid(query+".Window", w, "must be a whole number of milliseconds")
	}
	to = end.UnixMilli()
	from = to - w.Milliseconds()
	if from < 0 {
		return 0, 0, canary.Invalid(query+".End", end, "must be at least one window after the Unix epoch")
	}
	return from, to, nil
}

func checkText(field, text string) error {
	if kw := timeClause(text); kw != "" {
		return canary.Invalid(field, text, "must not contain %s: the provider sets the time range from the query's window", kw)
	}
	if strings.ContainsAny(text, "\x00") {
		return canary.Invalid(field, text, "must not contain a NUL byte")
	}
	return nil
}

// timeClause returns the first clause outside quotes that sets the time
// range or the shape of the answer (SINCE, UNTIL, COMPARE WITH, TIMESERIES),
// "a comment" for a comment (which could swallow the appended time range),
// or "".
func timeClause(text string) string {
	var quote rune
	escaped := false
	word := strings.Builder{}
	var words []string
	flush := func() {
		if word.Len() > 0 {
			words = append(words, strings.ToUpper(word.String()))
			word.Reset()
		}
	}
	var prev rune
	for _, c := range text {
		if quote == 0 && (prev == '-' && c == '-' || prev == '/' && (c == '/' || c == '*')) {
			return "a comment"
		}
		prev = c
		switch {
		case escaped:
			escaped = false
		case quote != 0 && c == '\\':
			escaped = true
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '`' || c == '"':
			flush()
			quote = c
		case c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			word.WriteRune(c)
		default:
			flush()
		}
	}
	flush()
	for i, w := range words {
		switch w {
		case "SINCE", "UNTIL", "TIMESERIES":
			return w
		case "COMPARE":
			if i+1 < len(words) && words[i+1] == "WITH" {
				return "COMPARE WITH"
			}
		}
	}
	return ""
}

// Query runs q.Text over exactly (q.End-q.Window, q.End] and returns the
// value of its one result row.
func (p *Provider) Query(ctx context.Context, q metrics.Query) (metrics.Result, error) {
	if err := p.usable(); err != nil {
		return metrics.Result{}, err
	}
	return p.src.Query(ctx, q)
}

// Range returns the values of q.Text over a window of q.Window ending at
// q.Start, q.Start+q.Step, … up to q.End, oldest first. When q.Window is
// q.Step (each point's window is the step), it runs one NRQL query,
// q.Text SINCE q.Start-q.Window UNTIL q.End TIMESERIES q.Step, and returns
// each bucket as a point at the bucket's end (q.Step must then be a whole
// number of seconds, and the range at most 366 buckets, NRQL's limit);
// otherwise it runs one Query per point. Points with no value are left
// out and no point at all is [metrics.ErrNoData]; errors are those of
// Query.
func (p *Provider) Range(ctx context.Context, q metrics.RangeQuery) ([]metrics.Point, error) {
	if err := p.usable(); err != nil {
		return nil, err
	}
	return p.src.Range(ctx, q)
}

// Source returns the portable [metrics.Source] p answers through (nil for
// the zero Provider); Provider.Range is its Range.
func (p *Provider) Source() *metrics.Source {
	if p == nil {
		return nil
	}
	return p.src
}

// ErrorCode has nothing to add: the driver's errors carry their codes
// (*Error by its HTTP status or NerdGraph's error class).
func (d *driver) ErrorCode(error) canary.ErrorCode { return canary.Unknown }

// Instant runs q.Text over exactly its window: one series per result row.
func (d *driver) Instant(ctx context.Context, q metrics.Query) ([]metrics.Series, error) {
	nrql, err := d.nrql(q)
	if err != nil {
		return nil, err
	}
	res, err := d.run(ctx, nrql, false)
	if err != nil {
		return nil, err
	}
	if len(res.Results) > 1 {
		return rowLabels(res.Results), nil
	}
	if len(res.Results) == 0 {
		return nil, nil
	}
	r, err := rowResult(res.Results[0])
	if err != nil {
		return nil, fmt.Errorf("newrelic: %q: %w", q.Text, err)
	}
	return []metrics.Series{{Result: r}}, nil
}

// rowLabels names the rows of an answer that has several, for the error
// of several series.
func rowLabels(rows []nrdb.NRDBResult) []metrics.Series {
	series := make([]metrics.Series, len(rows))
	for i, row := range rows {
		if key, err := facetKey(row["facet"]); err == nil {
			series[i].Labels = "{facet=" + strconv.Quote(key) + "}"
		} else {
			series[i].Labels = fmt.Sprintf("{row=%d}", i)
		}
	}
	return series
}

// maxBuckets is the most buckets a TIMESERIES query may have (New Relic,
// "NRQL syntax, clauses, and functions": TIMESERIES).
const maxBuckets = 366

// Range runs q.Text SINCE q.Start-q.Window UNTIL q.End TIMESERIES q.Step:
// one series per facet (one in all without FACET), each bucket a point at
// its end. A query whose Window is not its Step (a bucket is one step
// wide) is errors.ErrUnsupported, before any request, and the Source
// answers it with one query per point.
func (d *driver) Range(ctx context.Context, q metrics.RangeQuery) ([]metrics.Series, error) {
	if q.Window != q.Step {
		return nil, fmt.Errorf("newrelic: one TIMESERIES query needs RangeQuery.Window (%v) = RangeQuery.Step (%v): %w", q.Window, q.Step, errors.ErrUnsupported)
	}
	from, _, err := window("RangeQuery", q.Window, q.Start)
	if err != nil {
		return nil, err
	}
	_, to, err := window("RangeQuery", q.Window, q.End)
	if err != nil {
		return nil, err
	}
	if q.Step%time.Second != 0 {
		return nil, canary.Invalid("RangeQuery.Step", q.Step, "must be a whole number of seconds for NRQL's TIMESERIES")
	}
	if n := (to - from) / q.Step.Milliseconds(); n > maxBuckets {
		return nil, canary.Invalid("RangeQuery.Step", q.Step, "gives %d buckets from %v to %v; NRQL's TIMESERIES allows at most %d", n, q.Start, q.End, maxBuckets)
	}
	if err := checkText("RangeQuery.Text", q.Text); err != nil {
		return nil, err
	}
	nrql := fmt.Sprintf("%s SINCE %d UNTIL %d TIMESERIES %d seconds", strings.TrimSpace(q.Text), from, to, int64(q.Step/time.Second))
	res, err := d.run(ctx, nrql, false)
	if err != nil {
		return nil, err
	}
	index := map[string]int{}
	var series []metrics.Series
	for i, row := range res.Results {
		label := ""
		if f, ok := row["facet"]; ok {
			key, err := facetKey(f)
			if err != nil {
				return nil, fmt.Errorf("newrelic: %q: row %d: %w", q.Text, i, err)
			}
			label = "{facet=" + strconv.Quote(key) + "}"
		}
		k, ok := index[label]
		if !ok {
			k = len(series)
			index[label] = k
			series = append(series, metrics.Series{Labels: label})
		}
		begin, okb := row["beginTimeSeconds"].(float64)
		end, oke := row["endTimeSeconds"].(float64)
		if !okb || !oke {
			return nil, fmt.Errorf("newrelic: %q: row %d has no beginTimeSeconds and endTimeSeconds: not a TIMESERIES answer", q.Text, i)
		}
		if int64(begin*1000) < from || int64(end*1000) > to {
			continue
		}
		r, err := rowResult(row)
		if errors.Is(err, metrics.ErrNoData) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("newrelic: %q: row %d: %w", q.Text, i, err)
		}
		series[k].Points = append(series[k].Points, metrics.Point{Time: time.UnixMilli(int64(end * 1000)).UTC(), Value: r.Value, Count: r.Count})
	}
	return series, nil
}

// QueryFacets runs a FACET query over exactly (q.End-q.Window, q.End] and
// returns one Result per facet, keyed by the facet's value (several facet
// attributes are joined with ", "). A facet whose value is null is left
// out; when none is left the error wraps [metrics.ErrNoData].
func (p *Provider) QueryFacets(ctx context.Context, q metrics.Query) (map[string]metrics.Result, error) {
	nrql, err := p.NRQL(q)
	if err != nil {
		return nil, err
	}
	res, err := p.d.run(ctx, nrql, true)
	if err != nil {
		return nil, err
	}
	out := make(map[string]metrics.Result, len(res.Results))
	for i, row := range res.Results {
		key, err := facetKey(row["facet"])
		if err != nil {
			return nil, fmt.Errorf("newrelic: %q: row %d: %w", q.Text, i, err)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("newrelic: %q: facet %q appears twice", q.Text, key)
		}
		r, err := rowResult(row)
		if errors.Is(err, metrics.ErrNoData) {
			continue
		}
		if err == nil {
			r, err = r.Check()
		}
		if errors.Is(err, metrics.ErrNoData) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("newrelic: %q: facet %q: %w", q.Text, key, err)
		}
		out[key] = r
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("newrelic: %q: no facet has a value: %w", q.Text, metrics.ErrNoData)
	}
	return out, nil
}

func facetKey(v any) (string, error) {
	switch f := v.(type) {
	case string:
		return f, nil
	case float64, bool:
		return fmt.Sprint(f), nil
	case []any:
		parts := make([]string, len(f))
		for i, x := range f {
			if x == nil {
				parts[i] = "(null)"
			} else {
				parts[i] = fmt.Sprint(x)
			}
		}
		return strings.Join(parts, ", "), nil
	case nil:
		return "", errors.New("no facet field: QueryFacets needs a FACET query")
	}
	return "", fmt.Errorf("facet of unexpected type %T", v)
}

// metadata fields of a result row that are never the value.
var metadata = map[string]bool{
	"facet": true, "beginTimeSeconds": true, "endTimeSeconds": true,
	"timestamp": true, "comparison": true,
}

// rowResult reads the value of one result row.
func rowResult(row nrdb.NRDBResult) (metrics.Result, error) {
	name := "value"
	v, ok := row[name]
	if !ok {
		var names []string
		for k, x := range row {
			if metadata[k] {
				continue
			}
			switch x.(type) {
			case float64, nil, map[string]any:
				names = append(names, k)
			}
		}
		sort.Strings(names)
		switch len(names) {
		case 0:
			return metrics.Result{}, errors.New("the result row has no numeric field")
		case 1:
			name = names[0]
			v = row[name]
		default:
			return metrics.Result{}, fmt.Errorf("the result row has several fields (%s); name the one to read AS 'value'", strings.Join(names, ", "))
		}
	}
	f, err := number(name, v)
	if err != nil {
		return metrics.Result{}, err
	}
	r := metrics.Result{Value: f}
	if name == "value" {
		if c, ok := row["count"].(float64); ok && c >= 0 && c == float64(int64(c)) {
			r.Count = int64(c)
		}
	}
	return r, nil
}

// number reads a field: a number, null (no data), or an object with one
// number such as percentile(duration, 95)'s {"95": 0.31}.
func number(name string, v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case nil:
		return 0, fmt.Errorf("%s is null: %w", name, metrics.ErrNoData)
	case map[string]any:
		if len(x) != 1 {
			return 0, fmt.Errorf("%s has %d values; ask for one (e.g. one percentile)", name, len(x))
		}
		for k, inner := range x {
			return number(name+"."+k, inner)
		}
	}
	return 0, fmt.Errorf("%s is a %T, not a number", name, v)
}

// run sends nrql through the client, bound to ctx. With retry, the
// transport waits for a rate limit itself (for QueryFacets, which does not
// go through the Source); without, it fails at once and the Source retries.
func (p *driver) run(ctx context.Context, nrql string, retry bool) (*nrdb.NRDBResultContainer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("newrelic: %w", err)
	}
	tr := &transport{ctx: ctx, p: p, retry: retry, done: make(chan struct{})}
	cfg := config.New()
	cfg.PersonalAPIKey = p.key
	reg := p.region
	if err := cfg.SetRegion(&reg); err != nil {
		return nil, fmt.Errorf("newrelic: %w", err)
	}
	cfg.HTTPTransport = tr
	cfg.Logger = &logger{p: p, ctx: ctx}
	cfg.LogLevel = "trace"
	if p.timeout > 0 {
		t := p.timeout
		cfg.Timeout = &t
	}
	client := nrdb.New(cfg)
	type outcome struct {
		res *nrdb.NRDBResultContainer
		err error
	}
	ch := make(chan outcome, 1)
	go func() {
		res, err := client.QueryWithContext(ctx, p.accountID, nrdb.NRQL(nrql))
		ch <- outcome{res, err}
	}()
	select {
	case o := <-ch:
		if f := tr.failure(); f != nil {
			return nil, f
		}
		if o.err != nil {
			return nil, p.clientError(o.err)
		}
		if o.res == nil {
			return nil, fmt.Errorf("newrelic: no answer: %w", metrics.ErrNoData)
		}
		return o.res, nil
	case <-tr.done:
		return nil, tr.failure()
	case <-ctx.Done():
		return nil, fmt.Errorf("newrelic: query: %w", ctx.Err())
	}
}
