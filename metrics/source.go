package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/meshcanary/canary"
)

// Defaults of a Source's rate-limit budget.
const (
	// DefaultMaxRetries is how often a rate-limited query is retried when
	// Config.MaxRetries is zero.
	DefaultMaxRetries = 3
	// DefaultMaxWait is the longest wait for a rate limit accepted when
	// Config.MaxWait is zero.
	DefaultMaxWait = 30 * time.Second
)

// Config configures a Source for its life, as a traffic.Config does a
// traffic.Router. The zero value is the defaults.
type Config struct {
	// Name names the back end in errors, for example "prometheus". Empty
	// means "metrics".
	Name string
	// Dialect is the template dialect the back end reads; [Source.Render]
	// refuses a template of another one. Zero takes any dialect.
	Dialect Dialect
	// Resolution is the shortest Query.Window (and RangeQuery.Window)
	// accepted: the back end's sampling or scrape interval, below which a
	// window holds no complete point. Zero accepts any positive window.
	Resolution time.Duration
	// MaxRetries bounds how often a query the back end refused for its
	// rate limit (an error whose code is [canary.RateLimited]) is sent
	// again. Zero means [DefaultMaxRetries]; negative means no retry.
	MaxRetries int
	// MaxWait is the longest wait for a rate limit the Source accepts: a
	// back end asking for a longer one fails the query at once, as does a
	// wait that would end after ctx's deadline. Zero means
	// [DefaultMaxWait]; negative accepts no wait (no retry).
	MaxWait time.Duration
	// Logger receives one line (at slog.LevelWarn) per rate-limit wait;
	// nil discards them.
	Logger *slog.Logger
	// Sleep waits d, or until ctx is done and then returns ctx.Err(). Nil
	// means a timer. Tests pass a function that records d and returns at
	// once.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now reads the clock, to tell whether a wait would end after ctx's
	// deadline. Nil means time.Now.
	Now func() time.Time
}

// Source answers queries through a Driver. It is the one implementation
// of the contract every metric back end shares, and a [Provider]:
//
//   - a query is validated ([Query.Validate], [RangeQuery.Validate], and
//     Config.Resolution) before anything is sent, and refused with a
//     *[canary.FieldError];
//   - a cancelled or expired context is refused before any I/O;
//   - a query the back end refused for its rate limit is sent again after
//     the wait the back end asked for ([RetryDelayer]; otherwise one
//     second, doubling up to 64 s), within Config.MaxRetries,
//     Config.MaxWait and ctx's deadline;
//   - an empty answer, NaN and ±Inf are [ErrNoData], never a value, and
//     NaN and ±Inf samples and points are dropped ([Result.Check]);
//   - several series where one value was expected are [ErrSeveralSeries],
//     naming (up to five of) them;
//   - every error has a [canary.Code] (the driver's ErrorCode, else
//     canary.Code), and one coded [canary.Unauthorized] or
//     [canary.RateLimited] matches [ErrUnauthorized] or [ErrRateLimited]; the
//     back end's native error stays reachable with errors.As.
//
// It offers instant queries ([Source.Query]) and range queries
// ([Source.Range]) over every driver. A Source is safe for concurrent
// use. Build it with [NewSource]; the zero Source (and a nil *Source)
// refuses every query with a *[canary.FieldError].
type Source struct {
	d          Driver
	ranger     Ranger
	name       string
	dialect    Dialect
	resolution time.Duration
	maxRetries int
	maxWait    time.Duration
	log        *slog.Logger
	sleep      func(context.Context, time.Duration) error
	now        func() time.Time
}

var _ Provider = (*Source)(nil)

// NewSource returns a Source over d. It panics if d is nil, as a
// programming error.
func NewSource(d Driver, o Config) *Source {
	if d == nil {
		panic("metrics: NewSource with a nil Driver")
	}
	s := &Source{d: d, name: o.Name, dialect: o.Dialect, resolution: o.Resolution,
		maxRetries: o.MaxRetries, maxWait: o.MaxWait, log: o.Logger, sleep: o.Sleep, now: o.Now}
	s.ranger, _ = d.(Ranger)
	if s.name == "" {
		s.name = "metrics"
	}
	switch {
	case s.maxRetries == 0:
		s.maxRetries = DefaultMaxRetries
	case s.maxRetries < 0:
		s.maxRetries = 0
	}
	if s.maxWait == 0 {
		s.maxWait = DefaultMaxWait
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.sleep == nil {
		s.sleep = sleep
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Driver returns the driver s was built over, for a caller that needs
// what only that back end offers.
func (s *Source) Driver() Driver {
	if s == nil {
		return nil
	}
	return s.d
}

// Render renders t with v, after checking that t is in the back end's
// dialect (Config.Dialect). Every error is a *[canary.FieldError].
func (s *Source) Render(t Template, v Vars) (string, error) {
	if s != nil && s.dialect != 0 && t.Dialect() != s.dialect {
		return "", canary.Invalid("Template.Dialect", t.Dialect().String(), "must be %v for the %s provider", s.dialect, s.name)
	}
	return t.Render(v)
}

// Query returns the value of q: the one series' value over (q.End-q.Window,
// q.End]. See [Source] for what it checks, retries and classifies.
func (s *Source) Query(ctx context.Context, q Query) (Result, error) {
	if err := s.usable(); err != nil {
		return Result{}, err
	}
	if err := q.Validate(); err != nil {
		return Result{}, err
	}
	if s.resolution > 0 && q.Window < s.resolution {
		return Result{}, canary.Invalid("Query.Window", q.Window, "must be at least the resolution (%v)", s.resolution)
	}
	if err := ctx.Err(); err != nil {
		return Result{}, s.errorf(q.Text, q.End, err)
	}
	series, err := s.call(ctx, func(ctx context.Context) ([]Series, error) { return s.d.Instant(ctx, q) })
	if err != nil {
		return Result{}, err
	}
	one, err := s.one(series)
	if err != nil {
		return Result{}, s.errorf(q.Text, q.End, err)
	}
	r, err := one.Result.Check()
	if err != nil {
		return Result{}, s.errorf(q.Text, q.End, err)
	}
	return r, nil
}

// Range returns the values of q.Text over a window of q.Window ending at
// q.Start, q.Start+q.Step, … up to q.End, oldest first: one request when
// the driver is a [Ranger], otherwise one instant query per point. Points
// with no value (and NaN and ±Inf ones) are left out; no point at all is
// [ErrNoData]; several series are [ErrSeveralSeries]. See [Source] for
// what it checks, retries and classifies.
func (s *Source) Range(ctx context.Context, q RangeQuery) ([]Point, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if s.resolution > 0 && q.Window < s.resolution {
		return nil, canary.Invalid("RangeQuery.Window", q.Window, "must be at least the resolution (%v)", s.resolution)
	}
	if err := ctx.Err(); err != nil {
		return nil, s.errorf(q.Text, q.End, err)
	}
	var pts []Point
	native := false
	if s.ranger != nil {
		series, err := s.call(ctx, func(ctx context.Context) ([]Series, error) { return s.ranger.Range(ctx, q) })
		switch {
		case errors.Is(err, errors.ErrUnsupported):
			// The back end cannot answer this shape in one request: one
			// instant query per point, below.
		case err != nil:
			return nil, err
		default:
			one, err := s.one(series)
			if err != nil {
				return nil, s.errorf(q.Text, q.End, err)
			}
			pts, native = one.Points, true
		}
	}
	if !native {
		for _, t := range q.Times() {
			r, err := s.Query(ctx, Query{Text: q.Text, Window: q.Window, End: t})
			switch {
			case errors.Is(err, ErrNoData):
				continue
			case err != nil:
				return nil, err
			}
			pts = append(pts, Point{Time: t, Value: r.Value, Count: r.Count})
		}
	}
	clean := make([]Point, 0, len(pts))
	for _, p := range pts {
		if !math.IsNaN(p.Value) && !math.IsInf(p.Value, 0) && p.Count >= 0 {
			clean = append(clean, p)
		}
	}
	if len(clean) == 0 {
		return nil, s.errorf(q.Text, q.End, fmt.Errorf("%w: no point from %s", ErrNoData, q.Start.UTC().Format(time.RFC3339)))
	}
	return clean, nil
}

func (s *Source) usable() error {
	if s == nil || s.d == nil {
		return canary.Invalid("Source", nil, "is the zero Source; build it with NewSource")
	}
	return nil
}

// call runs send, retrying an answer refused for the back end's rate
// limit within the budget, and classifies its error.
func (s *Source) call(ctx context.Context, send func(context.Context) ([]Series, error)) ([]Series, error) {
	for attempt := 0; ; attempt++ {
		series, err := send(ctx)
		if err == nil {
			return series, nil
		}
		err = s.classify(ctx, err)
		if canary.Code(err) != canary.RateLimited || ctx.Err() != nil {
			return nil, err
		}
		wait := time.Second << min(attempt, 6)
		var rd RetryDelayer
		if errors.As(err, &rd) && rd.RetryDelay() > 0 {
			wait = rd.RetryDelay()
		}
		if attempt >= s.maxRetries || wait > s.maxWait {
			return nil, err
		}
		if dl, ok := ctx.Deadline(); ok && s.now().Add(wait).After(dl) {
			return nil, err
		}
		s.log.LogAttrs(ctx, slog.LevelWarn, s.name+": rate limited; waiting before retrying",
			slog.String("wait", wait.String()), slog.String("attempt", strconv.Itoa(attempt+1)))
		if serr := s.sleep(ctx, wait); serr != nil {
			return nil, fmt.Errorf("%s: waiting for the rate limit: %w", s.name, serr)
		}
	}
}

// classify gives err a code once: the driver's ErrorCode, else
// canary.Code; an error coded Unauthorized or RateLimited also matches
// ErrUnauthorized or ErrRateLimited. An error that the context's end
// caused is made to match the context's error.
func (s *Source) classify(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w: %w", cerr, err)
	}
	code := canary.Code(err)
	if code == canary.Unknown {
		if c := s.d.ErrorCode(err); c != canary.OK {
			code = c
		}
	}
	switch {
	case code == canary.Unauthorized && !errors.Is(err, ErrUnauthorized):
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	case code == canary.RateLimited && !errors.Is(err, ErrRateLimited):
		return fmt.Errorf("%w: %w", ErrRateLimited, err)
	case code != canary.Unknown && canary.Code(err) == canary.Unknown:
		return canary.WithCode(code, err)
	}
	return err
}

// maxListed is how many series' labels an ErrSeveralSeries error lists.
const maxListed = 5

// one returns the one series of an answer: none is ErrNoData, several
// are ErrSeveralSeries.
func (s *Source) one(series []Series) (Series, error) {
	switch len(series) {
	case 0:
		return Series{}, fmt.Errorf("%w: empty answer", ErrNoData)
	case 1:
		return series[0], nil
	}
	var b strings.Builder
	for i, x := range series {
		if i == maxListed {
			fmt.Fprintf(&b, ", and %d more", len(series)-maxListed)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		l := x.Labels
		if l == "" {
			l = "{}"
		}
		b.WriteString(l)
	}
	return Series{}, fmt.Errorf("%w: %d series: %s; aggregate in the query (sum, max, …) to get one", ErrSeveralSeries, len(series), b.String())
}

// errorf names the back end, the query and its instant in err.
func (s *Source) errorf(text string, end time.Time, err error) error {
	return fmt.Errorf("%s: %q at %s: %w", s.name, text, end.UTC().Format(time.RFC3339), err)
}
