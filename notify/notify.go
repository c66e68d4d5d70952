package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/rollback"
)

var (
	// ErrQueueFull: a destination's queue was full and a message was
	// dropped (reported through Config.Failed, never silently).
	ErrQueueFull = errors.New("notify: queue full")
	// ErrUndelivered: every attempt to deliver a message failed.
	ErrUndelivered = errors.New("notify: not delivered")
	errRedacted    = errors.New("notify: the destination URL is not a valid URL")
)

// Failure reports a message not delivered to a destination.
type Failure struct {
	Destination string
	Message     Message
	Attempts    int
	// Err wraps ErrUndelivered or ErrQueueFull, with the last cause; it
	// never holds the destination's URL.
	Err error
}

// Config configures a Notifier. Zero values are the documented defaults.
type Config struct {
	// Next, when set, receives every event first: the Notifier is a
	// wrapper around the rollout's audit sink, and its answer is the
	// answer Next gives (a refused event is offered again by the rollout;
	// its message is queued once, when Next accepts it).
	Next rollback.Sink
	// Destinations are sent every decision. Required.
	Destinations []Destination
	// Report returns the link to a rollout's report; nil means none.
	Report func(rollout string) string
	// Queue is how many messages wait per destination; 0 means 1,000.
	Queue int
	// Attempts is how many times a message is tried; 0 means 6.
	Attempts int
	// Backoff is the first wait after a failure, doubled at each retry up
	// to MaxBackoff (or the destination's Retry-After, if longer); 0
	// means 2 s and 5 min.
	Backoff, MaxBackoff time.Duration
	// Interval is the least time between two messages to one destination
	// (Slack allows one a second per incoming webhook:
	// https://api.slack.com/apis/rate-limits); 0 means 1 s.
	Interval time.Duration
	// Timeout bounds one delivery attempt; 0 means 10 s.
	Timeout time.Duration
	// Client sends the requests; nil means a client with no redirects.
	Client *http.Client
	// Location is the time zone of a message's TimeText; nil means
	// Europe/London (display's default location).
	Location *time.Location
	// Failed is told of every message given up on. nil means the
	// failures are only kept (Failures).
	Failed func(Failure)
	// Now and Sleep are the clock; nil means the real ones. Tests drive
	// them.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Notifier is a [rollback.Sink] that turns the rollout's decisions into
// messages and delivers them in the background: Record never waits for a
// destination. Build it with New and run Run in a goroutine of your own.
type Notifier struct {
	cfg    Config
	queues []chan Message

	mu       sync.Mutex
	last     map[string]*analysis.Verdict // rollout → its last verdict
	seen     map[string]uint64            // rollout → the last Seq queued
	failures []Failure
	sent     int
	pending  int // queued or being delivered, over all destinations
}

// New validates cfg and returns a Notifier.
func New(cfg Config) (*Notifier, error) {
	if len(cfg.Destinations) == 0 {
		return nil, canary.Invalid("Config.Destinations", nil, "must list at least one destination")
	}
	for i, d := range cfg.Destinations {
		if d == nil {
			return nil, canary.Invalid("Config.Destinations["+strconv.Itoa(i)+"]", nil, "must not be nil")
		}
	}
	if cfg.Queue < 0 || cfg.Attempts < 0 || cfg.Backoff < 0 || cfg.MaxBackoff < 0 || cfg.Interval < 0 || cfg.Timeout < 0 {
		return nil, canary.Invalid("Config", nil, "Queue, Attempts, Backoff, MaxBackoff, Interval and Timeout must not be negative")
	}
	def := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	if cfg.Queue == 0 {
		cfg.Queue = 1000
	}
	if cfg.Attempts == 0 {
		cfg.Attempts = 6
	}
	def(&cfg.Backoff, 2*time.Second)
	def(&cfg.MaxBackoff, 5*time.Minute)
	def(&cfg.Interval, time.Second)
	def(&cfg.Timeout, 10*time.Second)
	if cfg.Client == nil {
		cfg.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
				return nil
			}
		}
	}
	n := &Notifier{cfg: cfg, last: map[string]*analysis.Verdict{}, seen: map[string]uint64{}}
	for range cfg.Destinations {
		n.queues = append(n.queues, make(chan Message, cfg.Queue))
	}
	return n, nil
}

// Record implements [rollback.Sink]: it passes e to Config.Next and, once
// accepted, queues the message of a decision for every destination
// without waiting. A full queue drops the message and reports it.
func (n *Notifier) Record(ctx context.Context, e rollback.Event) error {
	if n.cfg.Next != nil {
		if err := n.cfg.Next.Record(ctx, e); err != nil {
			return err
		}
	}
	n.mu.Lock()
	if e.Seq != 0 && e.Seq <= n.seen[e.Rollout] {
		n.mu.Unlock()
		return nil // offered again after a crash or a refusal: queued already
	}
	n.seen[e.Rollout] = e.Seq
	if e.Kind == rollback.KindAnalysis && e.Verdict != nil {
		n.last[e.Rollout] = e.Verdict
	}
	last := n.last[e.Rollout]
	n.mu.Unlock()
	d, ok := decide(e)
	if !ok {
		return nil
	}
	report := ""
	if n.cfg.Report != nil {
		report = n.cfg.Report(e.Rollout)
	}
	m := compose(d, e, last, report, n.cfg.Location)
	for i, q := range n.queues {
		n.mu.Lock()
		n.pending++ // before the send, so a delivery never sees it negative
		n.mu.Unlock()
		select {
		case q <- m:
		default:
			n.mu.Lock()
			n.pending--
			n.mu.Unlock()
			n.fail(Failure{Destination: n.cfg.Destinations[i].Name(), Message: m,
				Err: fmt.Errorf("%w: %d messages wait for %s", ErrQueueFull, n.cfg.Queue, n.cfg.Destinations[i].Name())})
		}
	}
	return nil
}

func (n *Notifier) fail(f Failure) {
	n.mu.Lock()
	n.failures = append(n.failures, f)
	n.mu.Unlock()
	if n.cfg.Failed != nil {
		n.cfg.Failed(f)
	}
}

// Failures returns the messages given up on so far.
func (n *Notifier) Failures() []Failure {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Failure(nil), n.failures...)
}

// Sent returns how many messages were delivered.
func (n *Notifier) Sent() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sent
}

// Pending returns how many messages wait or are being delivered, over all
// destinations: one taken off its queue counts until it was delivered or
// given up on, so a caller that waits for Pending to reach 0 before it
// cancels Run loses no message in flight.
func (n *Notifier) Pending() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pending
}

// done marks one message delivered or given up on.
func (n *Notifier) done() {
	n.mu.Lock()
	n.pending--
	n.mu.Unlock()
}

// Run delivers the queued messages, one goroutine per destination (so a
// destination that is down delays no other), until ctx is done.
func (n *Notifier) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := range n.queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.deliverLoop(ctx, i)
		}()
	}
	wg.Wait()
	return ctx.Err()
}

func (n *Notifier) deliverLoop(ctx context.Context, i int) {
	d, q := n.cfg.Destinations[i], n.queues[i]
	var next time.Time // the rate limit: no message before next
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-q:
			for attempt := 1; ; attempt++ {
				if wait := next.Sub(n.cfg.Now()); wait > 0 {
					if n.cfg.Sleep(ctx, wait) != nil {
						return
					}
				}
				next = n.cfg.Now().Add(n.cfg.Interval)
				retryAfter, err := n.send(ctx, d, m)
				if err == nil {
					n.mu.Lock()
					n.sent++
					n.mu.Unlock()
					n.done()
					break
				}
				var perm permanent
				if attempt >= n.cfg.Attempts || errors.As(err, &perm) {
					n.fail(Failure{Destination: d.Name(), Message: m, Attempts: attempt,
						Err: fmt.Errorf("%w to %s after %d attempts: %w", ErrUndelivered, d.Name(), attempt, err)})
					n.done()
					break
				}
				wait := n.cfg.Backoff << (attempt - 1)
				if wait > n.cfg.MaxBackoff || wait <= 0 {
					wait = n.cfg.MaxBackoff
				}
				if retryAfter > wait {
					wait = retryAfter
				}
				if n.cfg.Sleep(ctx, wait) != nil {
					return
				}
			}
		}
	}
}

type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// send makes one attempt. Errors never quote the URL: a transport error
// is reduced to its cause (which names the host and port at most).
func (n *Notifier) send(ctx context.Context, d Destination, m Message) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	req, err := d.Request(ctx, m, n.cfg.Now())
	if err != nil {
		return 0, permanent{err}
	}
	resp, err := n.cfg.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return 0, nil
	case c == http.StatusTooManyRequests || c == http.StatusRequestTimeout || c >= 500:
		var after time.Duration
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			after = time.Duration(s) * time.Second
		}
		return after, fmt.Errorf("the destination answered %s", resp.Status)
	default:
		return 0, permanent{fmt.Errorf("the destination answered %s", resp.Status)}
	}
}
