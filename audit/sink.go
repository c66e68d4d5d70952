package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/meshcanary/canary/rollback"
)

// JSONLines is a [rollback.Sink] appending each event to a trail as one line
// of JSON (times in UTC) ending in its chain value. It is exactly-once by
// Seq: an event whose Seq is not above the last one written for its
// rollout is acknowledged without being written again, so the rollout's
// re-delivery of an event after a crash or a failed Record repeats
// nothing. It is safe for concurrent use.
//
// Faults (see the package doc): a short write leaves the rest of the line
// pending, and the next Record writes it first, so the line is completed
// rather than duplicated or left torn; a failed Sync is retried by the
// next Record before anything else is written. A trail opened with
// OpenFile instead reopens the file after any failure, truncating a torn
// last line and reading back what the file holds.
type JSONLines struct {
	mu     sync.Mutex
	o      Config
	w      io.Writer
	anchor Anchor
	last   map[string]uint64

	// A line a short write left incomplete, and the state once it is whole.
	pending     []byte
	afterAnchor Anchor
	afterSeq    seqOf
	// A line written whose Sync failed.
	unsynced bool

	// OpenFile's trail.
	path   string
	f      file
	broken error // a failure since which f must be reopened
	closed bool
	open   func(string) (file, error)
	unlock func() // releases the exclusive lock on the trail
	// acked is the anchor of the last line acknowledged (Record returned
	// nil, or the caller's anchor at open): a reopen may repair a torn
	// line after it, never one at or below it.
	acked Anchor
}

type seqOf struct {
	rollout string
	seq     uint64
}

type file interface {
	io.Reader
	io.Writer
	Sync() error
	Truncate(int64) error
	Close() error
}

// ErrClosed is returned by Record after Close.
var ErrClosed = errors.New("audit: trail closed")

// New returns a JSONLines appending to w, which already holds the trail
// that resume describes: the zero Report for a new trail, or what Verify
// returned for it. When w has a Sync method (an *os.File does) it is
// called after every line, so that an acknowledged event survives a crash.
func New(w io.Writer, o Config, resume Report) (*JSONLines, error) {
	if err := checkAnchor("resume.Anchor", resume.Anchor); err != nil {
		return nil, err
	}
	j := &JSONLines{o: o, w: w, anchor: resume.Anchor, last: map[string]uint64{}}
	for k, v := range resume.Last {
		j.last[k] = v
	}
	return j, nil
}

// ErrLocked is wrapped by OpenFile's error when another JSONLines (in this
// process or another) holds the trail open: two writers would each keep
// their own Seq and chain, write the same Seq twice and break the trail.
var ErrLocked = errors.New("audit: trail held open by another writer")

// OpenFile opens (or creates) the trail at path for appending, verifies
// it with o, truncates a torn last line (the line a crash interrupted; the
// rollout delivers that event again), and resumes after its last event.
// It refuses a trail that does not verify (the error wraps ErrTampered).
//
// The trail is locked for writing (an exclusive flock(2) on the file,
// released by Close or when the process dies): a second OpenFile of the
// same file before Close fails at once with an error wrapping ErrLocked.
// On systems without flock(2) there is no such fence.
//
// Without an anchor, a trail cut in the middle of a line cannot be told
// from one a crash tore; use OpenFileAnchored with the last anchor saved
// to refuse it.
func OpenFile(path string, o Config) (*JSONLines, error) {
	return OpenFileAnchored(path, o, Anchor{})
}

// OpenFileAnchored is OpenFile for a trail whose last saved Anchor is
// anchor (the zero Anchor for none). The trail must extend it: a trail
// shorter than the anchor, or cut in the middle of a line at or below the
// anchored one, is refused as tampered (the error wraps ErrTampered) and
// left as it is; only a torn line after the anchored lines, the one write
// that was never acknowledged, is truncated.
func OpenFileAnchored(path string, o Config, anchor Anchor) (*JSONLines, error) {
	if err := checkAnchor("anchor", anchor); err != nil {
		return nil, err
	}
	unlock, err := lockTrail(path)
	if err != nil {
		return nil, fmt.Errorf("audit: %s: %w", path, err)
	}
	j := &JSONLines{o: o, path: path, open: openOSFile, unlock: unlock, acked: anchor}
	if err := j.reopen(); err != nil {
		unlock()
		return nil, err
	}
	return j, nil
}

func openOSFile(path string) (file, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
}

// reopen (re)reads the trail from the file and positions the sink after
// its last whole line.
func (j *JSONLines) reopen() error {
	if j.f != nil {
		_ = j.f.Close()
		j.f = nil
	}
	f, err := j.open(j.path)
	if err != nil {
		return err
	}
	var anchor *Anchor
	if j.acked.Lines > 0 {
		anchor = &j.acked
	}
	rep, err := Verify(f, j.o, anchor)
	switch {
	case errors.Is(err, ErrTornLine):
		if terr := f.Truncate(rep.Size); terr != nil {
			_ = f.Close()
			return fmt.Errorf("audit: truncating the torn last line of %s: %w", j.path, terr)
		}
		if serr := f.Sync(); serr != nil {
			_ = f.Close()
			return serr
		}
	case err != nil:
		_ = f.Close()
		return fmt.Errorf("audit: %s: %w", j.path, err)
	}
	j.f, j.w = f, f
	j.anchor, j.last, j.acked = rep.Anchor, rep.Last, rep.Anchor
	j.pending, j.unsynced, j.broken = nil, false, nil
	return nil
}

// Anchor returns the anchor of the last line written and synced. Save it
// (in a store.Store) after Record returns to detect a later truncation or
// edit with Verify.
func (j *JSONLines) Anchor() Anchor {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.anchor
}

// Last returns the last Seq the trail holds for each rollout (a copy):
// events at or below it are skipped. A rollout name run a second time
// against the same trail needs a name of its own.
func (j *JSONLines) Last() map[string]uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make(map[string]uint64, len(j.last))
	for k, v := range j.last {
		out[k] = v
	}
	return out
}

// Close closes the file of a trail opened with OpenFile; for New it does
// nothing.
func (j *JSONLines) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.unlock != nil {
		defer func() { j.unlock(); j.unlock = nil }()
	}
	if j.f == nil {
		j.closed = j.closed || j.path != ""
		return nil
	}
	err := j.f.Close()
	j.f, j.closed = nil, true
	return err
}

// Record appends e unless an event of its rollout with the same or a
// later Seq is already in the trail.
func (j *JSONLines) Record(_ context.Context, e rollback.Event) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return ErrClosed
	}
	if j.path != "" && (j.broken != nil || j.f == nil) {
		if err := j.reopen(); err != nil {
			return err
		}
	}
	if err := j.finish(); err != nil {
		return j.fail(err)
	}
	j.acked = j.anchor // all written is synced
	if last, ok := j.last[e.Rollout]; ok && e.Seq <= last {
		return nil // already in the trail: exactly once
	}
	line, chain, err := j.o.line(j.anchor.Chain, e)
	if err != nil {
		return err
	}
	next := Anchor{Lines: j.anchor.Lines + 1, Chain: chain}
	n, err := j.w.Write(line)
	if err != nil || n < len(line) {
		if err == nil {
			err = io.ErrShortWrite
		}
		if n > 0 {
			j.pending, j.afterAnchor, j.afterSeq = line[n:], next, seqOf{e.Rollout, e.Seq}
		}
		return j.fail(err)
	}
	j.commit(next, seqOf{e.Rollout, e.Seq})
	if err := j.sync(); err != nil {
		j.unsynced = true
		return j.fail(err)
	}
	j.acked = j.anchor
	return nil
}

// finish completes a pending line and a pending Sync.
func (j *JSONLines) finish() error {
	if len(j.pending) > 0 {
		n, err := j.w.Write(j.pending)
		j.pending = j.pending[n:]
		if err == nil && len(j.pending) > 0 {
			err = io.ErrShortWrite
		}
		if err != nil {
			return err
		}
		j.pending = nil
		j.commit(j.afterAnchor, j.afterSeq)
		j.unsynced = true
	}
	if j.unsynced {
		if err := j.sync(); err != nil {
			return err
		}
		j.unsynced = false
	}
	return nil
}

func (j *JSONLines) commit(a Anchor, s seqOf) {
	j.anchor = a
	j.last[s.rollout] = s.seq
}

func (j *JSONLines) sync() error {
	if s, ok := j.w.(interface{ Sync() error }); ok {
		return s.Sync()
	}
	return nil
}

// fail records a failure; a file trail is reopened by the next Record.
func (j *JSONLines) fail(err error) error {
	if j.path != "" {
		j.broken = err
	}
	return fmt.Errorf("audit: writing the trail: %w", err)
}

var _ rollback.Sink = (*JSONLines)(nil)
