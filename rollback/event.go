package rollback

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata"
	"unicode"
	"unicode/utf8" // Europe/London must resolve on machines without a zoneinfo database

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/traffic"
)

// EventKind says what an Event records.
type EventKind string

const (
	// KindTransition: the phase changed.
	KindTransition EventKind = "transition"
	// KindAnalysis: an analysis ran; Verdict and Observations are set.
	KindAnalysis EventKind = "analysis"
	// KindAction: the rollout wrote to the router or the scaler.
	KindAction EventKind = "action"
	// KindManual: an operator's command.
	KindManual EventKind = "manual"
	// KindFailure: something the rollout tried failed; Error is set. A
	// failure repeated without change is reported once, then with its
	// repeat count at most every hour (Repeats).
	KindFailure EventKind = "failure"
	// KindAlert: something a person should look at that the policy does
	// not act on by itself, such as a failing analysis while paused under
	// PauseOnFailure.
	KindAlert EventKind = "alert"
)

// Event is one entry of the audit trail. Times are UTC on the wire.
type Event struct {
	// Seq numbers the rollout's events from 1 without gaps, so a reader
	// can tell that none is missing.
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Rollout string    `json:"rollout"`
	Kind    EventKind `json:"kind"`
	// From and To are the phases before and after.
	From Phase `json:"from"`
	To   Phase `json:"to"`
	// WeightFrom and WeightTo are the canary's weights before and after.
	WeightFrom int `json:"weightFrom"`
	WeightTo   int `json:"weightTo"`
	// Action names what was done: "set-split", "verify", "scale-canary",
	// "restore-stable", "record-replicas", "release", "readiness", "gate",
	// "query <metric>", "analyze", "persist".
	Action string         `json:"action,omitempty"`
	Split  *traffic.Split `json:"split,omitempty"`
	// Verdict and Observations are set on analysis events. Observations
	// keep values and counts, not raw samples, so an event stays small
	// whatever the traffic.
	Verdict      *analysis.Verdict      `json:"verdict,omitempty"`
	Observations []analysis.Observation `json:"observations,omitempty"`
	// Failures is the failed-analysis count after this event, by the
	// policy's counting.
	Failures int    `json:"failures,omitempty"`
	Actor    string `json:"actor,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Error    string `json:"error,omitempty"`
	// Repeats is, on a failure event, how many times the failure happened
	// since it was last reported.
	Repeats int `json:"repeats,omitempty"`
}

// Sink receives events. Record is called in order of Seq; an event whose
// Record returns an error is offered again, with all later ones, at the
// rollout's next call.
//
// Exactly once: with a [Config.Store], an event is handed to the sink only
// after the state holding it was saved, and the state saved after its
// acknowledgement no longer holds it, so an acknowledged event is never
// offered again once that save succeeds. A crash between the sink's
// acknowledgement and that save offers the event again after the restart,
// with the same Seq and content: a sink must skip an event whose Seq it
// already holds (a JSON-lines trail reads its last Seq when it opens).
// Seq rises by one per event; a gap means events were given up on
// ([State.Dropped], [MaxUndelivered]).
type Sink interface {
	Record(ctx context.Context, e Event) error
}

// SinkFunc adapts a function to the Sink interface.
type SinkFunc func(ctx context.Context, e Event) error

// Record calls f(ctx, e).
func (f SinkFunc) Record(ctx context.Context, e Event) error { return f(ctx, e) }

// JSONLines is a Sink that appends each event to W as one line of JSON,
// times in UTC: an append-only audit trail. When W has a Sync method (an
// *os.File does) it is called after every line so that an acknowledged
// event survives a crash. It is safe for concurrent use.
//
// A chained JSONLines (NewChainedJSONLines) makes the trail tamper-evident:
// every line ends with a "chain" field, the SHA-256 of the previous line's
// chain and this line's event, so that editing, removing, inserting or
// reordering a line breaks the chain from there on. VerifyChain checks a
// trail.
type JSONLines struct {
	mu      sync.Mutex
	W       io.Writer
	chained bool
	last    string
}

// NewJSONLines returns a JSONLines sink writing to w.
func NewJSONLines(w io.Writer) *JSONLines { return &JSONLines{W: w} }

// NewChainedJSONLines returns a chained JSONLines sink writing to w. last
// is the chain of the last line already in the trail, as VerifyChain
// returns it, or "" for a new trail.
func NewChainedJSONLines(w io.Writer, last string) (*JSONLines, error) {
	if last != "" && !isChain(last) {
		return nil, canary.Invalid("last", last, "must be a chain value as VerifyChain returns it (64 hex digits), or empty")
	}
	return &JSONLines{W: w, chained: true, last: last}, nil
}

// ErrChainBroken is returned (wrapped) by VerifyChain for a trail that was
// altered.
var ErrChainBroken = errors.New("rollback: audit chain broken")

const chainSuffix = `,"chain":"` // then 64 hex digits and "}"

func chainOf(prev string, event []byte) string {
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write([]byte{'\n'})
	h.Write(event)
	return hex.EncodeToString(h.Sum(nil))
}

func isChain(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// Record writes e as one JSON line.
func (j *JSONLines) Record(_ context.Context, e Event) error {
	e.Time = e.Time.UTC()
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	chain := ""
	if j.chained {
		chain = chainOf(j.last, b)
		b = append(b[:len(b)-1], chainSuffix...)
		b = append(b, chain...)
		b = append(b, '"', '}')
	}
	b = append(b, '\n')
	if _, err := j.W.Write(b); err != nil {
		return err
	}
	if s, ok := j.W.(interface{ Sync() error }); ok {
		if err := s.Sync(); err != nil {
			return err
		}
	}
	if j.chained {
		j.last = chain
	}
	return nil
}

// VerifyChain reads a chained trail written by NewChainedJSONLines and
// checks every line's chain. It returns the number of lines and the last
// chain (to resume the trail with NewChainedJSONLines), or an error
// wrapping ErrChainBroken that names the first line that does not check.
func VerifyChain(r io.Reader) (lines int, last string, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		lines++
		line := sc.Bytes()
		n := len(chainSuffix) + 64 + 2
		if len(line) < n+2 || string(line[len(line)-n:len(line)-66]) != chainSuffix || line[len(line)-1] != '}' || line[len(line)-2] != '"' {
			return lines - 1, last, fmt.Errorf("%w: line %d has no chain field", ErrChainBroken, lines)
		}
		got := string(line[len(line)-66 : len(line)-2])
		event := append(append([]byte(nil), line[:len(line)-n]...), '}')
		if want := chainOf(last, event); got != want {
			return lines - 1, last, fmt.Errorf("%w at line %d: the line, or one before it, was altered, removed or reordered", ErrChainBroken, lines)
		}
		var e Event
		if err := json.Unmarshal(event, &e); err != nil {
			return lines - 1, last, fmt.Errorf("%w: line %d is not an event: %v", ErrChainBroken, lines, err)
		}
		last = got
	}
	if err := sc.Err(); err != nil {
		return lines, last, err
	}
	return lines, last, nil
}

// London is the Europe/London location (GMT in winter, BST in summer), in
// which the module shows times to people.
var London = mustLondon()

func mustLondon() *time.Location {
	l, err := time.LoadLocation("Europe/London")
	if err != nil { // unreachable: time/tzdata is embedded
		return time.UTC
	}
	return l
}

// FormatTime writes t as people in the UK read it, in Europe/London:
// "24/11/2026 14:03:05 GMT" (or BST in summer).
func FormatTime(t time.Time) string { return t.In(London).Format("02/01/2006 15:04:05 MST") }

// FormatNumber writes v in UK format with up to prec decimals, trailing
// zeros dropped: 1234567.891 → "1,234,567.891".
func FormatNumber(v float64, prec int) string {
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac != "" {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String()
}

// FormatPercent writes a fraction as a UK-format percentage: 0.0523 →
// "5.23 %".
func FormatPercent(fraction float64) string { return FormatNumber(fraction*100, 2) + " %" }

// String renders e for people: time in Europe/London, weights, verdict
// details, actor and reason on one line.
func (e Event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-17s", FormatTime(e.Time), e.To)
	switch e.Kind {
	case KindTransition:
		fmt.Fprintf(&b, " %s → %s", e.From, e.To)
		if e.WeightFrom != e.WeightTo {
			fmt.Fprintf(&b, ", canary %d %% → %d %%", e.WeightFrom, e.WeightTo)
		}
	case KindAnalysis:
		if e.Verdict != nil {
			fmt.Fprintf(&b, " analysis at canary %d %%: %s", e.WeightTo, e.Verdict.Outcome)
			for _, d := range e.Verdict.Details {
				fmt.Fprintf(&b, "; %s", d.Metric)
				if d.Value != nil {
					fmt.Fprintf(&b, " %s", FormatNumber(*d.Value, 4))
				}
				if d.Bound != "" {
					fmt.Fprintf(&b, " (%s)", d.Bound)
				}
				if d.Outcome != analysis.Pass {
					fmt.Fprintf(&b, " %s", d.Reason)
				}
			}
			if e.Failures > 0 {
				fmt.Fprintf(&b, "; failures %d", e.Failures)
			}
		}
	case KindAction:
		fmt.Fprintf(&b, " %s", e.Action)
		if e.Split != nil {
			fmt.Fprintf(&b, " %v", *e.Split)
		}
	case KindManual:
		fmt.Fprintf(&b, " %s", e.Action)
	case KindFailure:
		fmt.Fprintf(&b, " %s failed: %s", e.Action, e.Error)
		if e.Repeats > 0 {
			fmt.Fprintf(&b, " (%d times)", e.Repeats)
		}
	case KindAlert:
		fmt.Fprintf(&b, " alert %s", e.Action)
	}
	if e.Actor != "" {
		fmt.Fprintf(&b, " by %s", e.Actor)
	}
	if e.Reason != "" && e.Kind != KindAnalysis {
		fmt.Fprintf(&b, " — %s", e.Reason)
	}
	return escapeText(b.String())
}

// escapeText makes text from outside (back-end errors, actors, reasons)
// safe on one terminal line: control characters (newlines, escape
// sequences, bidirectional overrides) and invalid UTF-8 are written as Go
// escapes, so that no text can forge a timeline line or drive a terminal.
func escapeText(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
				fmt.Fprintf(&b, `\x%02x`, s[i])
				continue
			}
			b.WriteRune(r)
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
