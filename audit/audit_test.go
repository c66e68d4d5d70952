package audit_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary/audit"
	"github.com/meshcanary/canary/rollback"
)

var t0 = time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC)

func event(rollout string, seq uint64) rollback.Event {
	return rollback.Event{Seq: seq, Time: t0.Add(time.Duration(seq) * time.Minute), Rollout: rollout,
		Kind: rollback.KindTransition, From: rollback.Progressing, To: rollback.Progressing, WeightFrom: int(seq), WeightTo: int(seq) + 1,
		Reason: "step " + strings.Repeat("x", int(seq))}
}

func record(t *testing.T, s rollback.Sink, rollout string, seqs ...uint64) {
	t.Helper()
	for _, q := range seqs {
		if err := s.Record(context.Background(), event(rollout, q)); err != nil {
			t.Fatalf("Record(%d): %v", q, err)
		}
	}
}

func seqs(t *testing.T, trail []byte) []uint64 {
	t.Helper()
	var out []uint64
	for _, l := range bytes.Split(bytes.TrimSuffix(trail, []byte("\n")), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var e struct{ Seq uint64 }
		if err := jsonUnmarshal(l, &e); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		out = append(out, e.Seq)
	}
	return out
}

func TestExactlyOnceAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trail.jsonl")
	j, err := audit.OpenFile(path, audit.Config{})
	if err != nil {
		t.Fatal(err)
	}
	record(t, j, "checkout", 1, 2, 3, 4, 5)
	record(t, j, "cart", 1, 2)
	j.Close()
	// A crash after the trail got 1..5 but before the rollout persisted
	// that it delivered 3..5: it delivers them again.
	j, err = audit.OpenFile(path, audit.Config{})
	if err != nil {
		t.Fatal(err)
	}
	record(t, j, "checkout", 3, 4, 5, 6, 7)
	record(t, j, "cart", 2, 3)
	j.Close()
	data, _ := os.ReadFile(path)
	if got := seqs(t, data); len(got) != 10 {
		t.Errorf("trail holds seqs %v, want checkout 1..7 and cart 1..3 once each", got)
	}
	rep, err := audit.Verify(bytes.NewReader(data), audit.Config{}, nil)
	if err != nil || rep.Last["checkout"] != 7 || rep.Last["cart"] != 3 || rep.Anchor.Lines != 10 || rep.Gaps != 0 {
		t.Errorf("Verify = %+v, %v", rep, err)
	}
}

// faultyWriter fails as told, once each.
type faultyWriter struct {
	buf        bytes.Buffer
	failWrite  int // fail the write with this index (from 1), writing short bytes first
	short      int
	failSync   int // fail the sync with this index (from 1)
	writes     int
	syncs      int
	syncFailed bool
}

func (w *faultyWriter) Write(p []byte) (int, error) {
	w.writes++
	if w.writes == w.failWrite {
		n := min(w.short, len(p))
		w.buf.Write(p[:n])
		return n, errors.New("disk full")
	}
	return w.buf.Write(p)
}

func (w *faultyWriter) Sync() error {
	w.syncs++
	if w.syncs == w.failSync {
		w.syncFailed = true
		return errors.New("fsync: input/output error")
	}
	return nil
}

// TestFaultsNeverDuplicateOrTear: the rollout offers an event again after
// a failed Record. A write that fails at once, a short write, and a failed
// Sync must each leave the trail with every event once and no torn line
// (the old sink wrote the event twice after a failed Sync, and left the
// partial line of a short write for VerifyChain to call tampering).
func TestFaultsNeverDuplicateOrTear(t *testing.T) {
	for _, tc := range []struct {
		name string
		w    *faultyWriter
	}{
		{"write fails, nothing written", &faultyWriter{failWrite: 3, short: 0}},
		{"short write", &faultyWriter{failWrite: 3, short: 17}},
		{"short write, then the rest fails too", &faultyWriter{failWrite: 3, short: 1}},
		{"sync fails", &faultyWriter{failSync: 3}},
	} {
		for _, key := range [][]byte{nil, []byte("k3y")} {
			t.Run(tc.name, func(t *testing.T) {
				w := *tc.w
				j, err := audit.New(&w, audit.Config{Key: key}, audit.Report{})
				if err != nil {
					t.Fatal(err)
				}
				failures := 0
				for seq := uint64(1); seq <= 5; {
					if err := j.Record(context.Background(), event("checkout", seq)); err != nil {
						failures++
						if failures > 3 {
							t.Fatalf("event %d keeps failing: %v", seq, err)
						}
						continue // offered again, as a rollout does
					}
					seq++
				}
				if failures == 0 {
					t.Fatal("no fault was injected; the test proves nothing")
				}
				data := w.buf.Bytes()
				if got := seqs(t, data); len(got) != 5 {
					t.Errorf("trail holds seqs %v, want 1..5 once each", got)
				}
				rep, err := audit.Verify(bytes.NewReader(data), audit.Config{Key: key}, nil)
				if err != nil || rep.Anchor != j.Anchor() {
					t.Errorf("Verify = %+v, %v; sink anchor %+v", rep, err, j.Anchor())
				}
			})
		}
	}
}

func TestTornLineIsNotTampering(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trail.jsonl")
	j, err := audit.OpenFile(path, audit.Config{})
	if err != nil {
		t.Fatal(err)
	}
	record(t, j, "checkout", 1, 2, 3)
	j.Close()
	whole, _ := os.ReadFile(path)
	// A crash in the middle of writing event 4.
	var buf bytes.Buffer
	j2, _ := audit.New(&buf, audit.Config{}, audit.Report{})
	record(t, j2, "checkout", 1, 2, 3, 4)
	torn := buf.Bytes()[:len(whole)+40]
	if err := os.WriteFile(path, torn, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(bytes.NewReader(torn), audit.Config{}, nil)
	if !errors.Is(err, audit.ErrTornLine) || errors.Is(err, audit.ErrTampered) || rep.Size != int64(len(whole)) || rep.Anchor.Lines != 3 {
		t.Fatalf("Verify(torn) = %+v, %v; want ErrTornLine (not ErrTampered) after 3 lines", rep, err)
	}
	j, err = audit.OpenFile(path, audit.Config{})
	if err != nil {
		t.Fatalf("OpenFile did not repair the torn line: %v", err)
	}
	record(t, j, "checkout", 4, 5)
	j.Close()
	data, _ := os.ReadFile(path)
	if got := seqs(t, data); len(got) != 5 {
		t.Errorf("after repair: %v", got)
	}
	if _, err := audit.Verify(bytes.NewReader(data), audit.Config{}, nil); err != nil {
		t.Error(err)
	}
}

// rechain rewrites a trail's chain values with o, as a forger would.
func rechain(t *testing.T, trail []byte, o audit.Config) []byte {
	t.Helper()
	var events []rollback.Event
	for _, l := range bytes.Split(bytes.TrimSuffix(trail, []byte("\n")), []byte("\n")) {
		var e rollback.Event
		if err := jsonUnmarshal(l, &e); err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	var buf bytes.Buffer
	j, _ := audit.New(&buf, o, audit.Report{})
	for _, e := range events {
		if err := j.Record(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestKeyedChainAndAnchor(t *testing.T) {
	key := []byte("the operator's secret key")
	for _, keyed := range []bool{false, true} {
		o := audit.Config{}
		if keyed {
			o.Key = key
		}
		var buf bytes.Buffer
		j, _ := audit.New(&buf, o, audit.Report{})
		record(t, j, "checkout", 1, 2, 3, 4, 5)
		anchor := j.Anchor()
		trail := append([]byte(nil), buf.Bytes()...)
		if _, err := audit.Verify(bytes.NewReader(trail), o, &anchor); err != nil {
			t.Fatalf("keyed=%v: the untouched trail: %v", keyed, err)
		}
		// An edit without recomputing the chain.
		edited := bytes.Replace(trail, []byte(`"step xx"`), []byte(`"step yy"`), 1)
		if _, err := audit.Verify(bytes.NewReader(edited), o, nil); !errors.Is(err, audit.ErrTampered) {
			t.Errorf("keyed=%v: plain edit: %v", keyed, err)
		}
		// An edit with the chain recomputed by a forger without the key.
		forged := rechain(t, edited, audit.Config{Key: map[bool][]byte{true: []byte("a guess")}[keyed]})
		_, err := audit.Verify(bytes.NewReader(forged), o, nil)
		if keyed != errors.Is(err, audit.ErrTampered) {
			t.Errorf("keyed=%v: forged chain: %v (the doc says: detected only with a key)", keyed, err)
		}
		// ...which the anchor catches even without a key.
		if _, err := audit.Verify(bytes.NewReader(forged), o, &anchor); !errors.Is(err, audit.ErrTampered) {
			t.Errorf("keyed=%v: forged chain against the anchor: %v", keyed, err)
		}
		// Truncation: a valid chain, caught only by the anchor.
		cut := trail[:bytes.LastIndexByte(trail[:len(trail)-1], '\n')+1]
		if _, err := audit.Verify(bytes.NewReader(cut), o, nil); err != nil {
			t.Errorf("keyed=%v: truncated trail without an anchor: %v (the doc says undetected)", keyed, err)
		}
		if _, err := audit.Verify(bytes.NewReader(cut), o, &anchor); !errors.Is(err, audit.ErrTampered) {
			t.Errorf("keyed=%v: truncation against the anchor: %v", keyed, err)
		}
		// The other setting does not verify.
		other := audit.Config{Key: key}
		if keyed {
			other = audit.Config{}
		}
		if _, err := audit.Verify(bytes.NewReader(trail), other, nil); !errors.Is(err, audit.ErrTampered) {
			t.Errorf("keyed=%v: verified with the other setting: %v", keyed, err)
		}
	}
}

func TestRepeatedEventIsTampering(t *testing.T) {
	var buf bytes.Buffer
	j, _ := audit.New(&buf, audit.Config{}, audit.Report{})
	record(t, j, "checkout", 1, 2)
	// A writer that is not exactly-once: the same event again, chained.
	j2, _ := audit.New(&buf, audit.Config{}, audit.Report{Anchor: j.Anchor()})
	record(t, j2, "checkout", 2)
	if _, err := audit.Verify(bytes.NewReader(buf.Bytes()), audit.Config{}, nil); !errors.Is(err, audit.ErrTampered) {
		t.Errorf("repeated Seq: %v", err)
	}
}

// TestLongLines: an event far longer than bufio.Scanner's 16 MiB limit.
func TestLongLines(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 17 MiB line")
	}
	var buf bytes.Buffer
	j, _ := audit.New(&buf, audit.Config{}, audit.Report{})
	e := event("checkout", 1)
	e.Reason = strings.Repeat("r", 17<<20)
	if err := j.Record(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	record(t, j, "checkout", 2)
	rep, err := audit.Verify(bytes.NewReader(buf.Bytes()), audit.Config{}, nil)
	if err != nil || rep.Anchor.Lines != 2 {
		t.Errorf("Verify = %+v, %v", rep, err)
	}
}

func TestNewRefusesBadAnchor(t *testing.T) {
	if _, err := audit.New(&bytes.Buffer{}, audit.Config{}, audit.Report{Anchor: audit.Anchor{Lines: 3}}); err == nil {
		t.Error("an anchor with lines and no chain was accepted")
	}
}
