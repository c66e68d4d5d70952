package audit

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/rollback"
)

// ErrTampered is wrapped by Verify's error for a trail that was altered:
// a line edited, removed, inserted or reordered, a chain value that does
// not check, a line that is not an event, an event repeated or out of
// order, or a trail shorter than its Anchor (whole lines missing, or a
// line cut in the middle at or below the anchored line).
var ErrTampered = errors.New("audit: trail tampered with")

// ErrTornLine is wrapped by Verify's error for a trail whose last line is
// incomplete (no final newline) after every line its anchor covers: what a
// crash during a write leaves (the write that was never acknowledged). It
// does not wrap ErrTampered. Everything before the torn line verified;
// Report.Size is where it starts, and OpenFile truncates the trail there.
// A line cut at or below the anchor's last line is not a torn write but a
// truncated trail, and Verify reports it as ErrTampered.
var ErrTornLine = errors.New("audit: torn last line")

// Config choose the chain.
type Config struct {
	// Key, when not empty, makes the chain keyed: each line carries
	// "mac", the HMAC-SHA-256 under Key of the previous line's value and
	// this line's event. Without it each line carries "chain", the
	// SHA-256 of the same. Keep the key out of the trail's storage.
	Key []byte
}

// Anchor is what a trail must extend: its number of lines and the chain
// value of the last one. Keep the latest in a store.Store (it is small
// JSON), apart from the trail, and pass it to Verify: a trail shorter than
// the anchor, or whose line Lines does not carry Chain, was truncated or
// altered before that line.
type Anchor struct {
	Lines uint64 `json:"lines"`
	Chain string `json:"chain,omitempty"`
}

// Report is what Verify read.
type Report struct {
	// Anchor is that of the last whole line that verified.
	Anchor Anchor
	// Size is the length in bytes of the whole lines that verified.
	Size int64
	// Last is the last Seq of each rollout in the trail.
	Last map[string]uint64
	// Gaps counts places where a rollout's Seq skips a number (an event
	// that never reached this trail; not evidence of tampering by itself).
	Gaps int
}

func (o Config) field() string {
	if len(o.Key) > 0 {
		return `,"mac":"`
	}
	return `,"chain":"`
}

// next is the chain value of event after prev.
func (o Config) next(prev string, event []byte) string {
	var h interface {
		io.Writer
		Sum([]byte) []byte
	}
	if len(o.Key) > 0 {
		h = hmac.New(sha256.New, o.Key)
	} else {
		h = sha256.New()
	}
	h.Write([]byte(prev))
	h.Write([]byte{'\n'})
	h.Write(event)
	return hex.EncodeToString(h.Sum(nil))
}

// line encodes e as one chained line after prev; it returns the line (with
// its newline) and its chain value.
func (o Config) line(prev string, e rollback.Event) ([]byte, string, error) {
	e.Time = e.Time.UTC()
	b, err := json.Marshal(e)
	if err != nil {
		return nil, "", err
	}
	if len(b) < 2 || b[len(b)-1] != '}' {
		return nil, "", fmt.Errorf("audit: event encoded as %q, not a JSON object", b)
	}
	chain := o.next(prev, b)
	b = append(b[:len(b)-1], o.field()...)
	b = append(b, chain...)
	b = append(b, '"', '}', '\n')
	return b, chain, nil
}

// Verify reads a trail written by this package with the same Config and
// checks every line's chain value, that every line is an event, and that
// each rollout's Seq only increases. Lines may be of any length. With an
// anchor it also checks that the trail reaches anchor.Lines lines and
// that line's chain value is anchor.Chain.
//
// The error wraps ErrTampered for an altered trail (naming the first line
// that does not check) and ErrTornLine for a torn last line; the Report
// describes the lines that verified before it.
func Verify(r io.Reader, o Config, anchor *Anchor) (Report, error) {
	rep := Report{Last: map[string]uint64{}}
	br := bufio.NewReaderSize(r, 64<<10)
	field := o.field()
	tail := len(field) + 64 + 2 // field, hex, `"}`
	for {
		line, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return rep, err
		}
		if len(line) == 0 {
			break
		}
		if line[len(line)-1] != '\n' {
			if anchor != nil && rep.Anchor.Lines < anchor.Lines {
				// A crash tears only the line being written, which was
				// never acknowledged, so never an anchored one: a line
				// cut below the anchor is a cut trail.
				return rep, fmt.Errorf("%w: the trail ends in %d bytes of a cut line after line %d, below its anchor (%d lines): truncated, not torn by a crash", ErrTampered, len(line), rep.Anchor.Lines, anchor.Lines)
			}
			return rep, fmt.Errorf("%w: %d bytes after line %d", ErrTornLine, len(line), rep.Anchor.Lines)
		}
		n := rep.Anchor.Lines + 1
		body := line[:len(line)-1]
		if len(body) < tail+2 || !bytes.Equal(body[len(body)-tail:len(body)-66], []byte(field)) || string(body[len(body)-2:]) != `"}` {
			kind := "chain"
			if len(o.Key) > 0 {
				kind = "mac"
			}
			return rep, fmt.Errorf("%w: line %d has no %q field (a trail written with another key setting, or an edited line)", ErrTampered, n, kind)
		}
		got := string(body[len(body)-66 : len(body)-2])
		event := append(append(make([]byte, 0, len(body)-tail), body[:len(body)-tail]...), '}')
		if want := o.next(rep.Anchor.Chain, event); !hmac.Equal([]byte(got), []byte(want)) {
			return rep, fmt.Errorf("%w at line %d: the line, or one before it, was altered, removed or reordered", ErrTampered, n)
		}
		var e rollback.Event
		if err := json.Unmarshal(event, &e); err != nil {
			return rep, fmt.Errorf("%w: line %d is not an event: %v", ErrTampered, n, err)
		}
		if last, ok := rep.Last[e.Rollout]; ok {
			switch {
			case e.Seq <= last:
				return rep, fmt.Errorf("%w: line %d repeats or reorders event %d of rollout %q (last was %d)", ErrTampered, n, e.Seq, e.Rollout, last)
			case e.Seq > last+1:
				rep.Gaps++
			}
		}
		rep.Last[e.Rollout] = e.Seq
		rep.Anchor = Anchor{Lines: n, Chain: got}
		rep.Size += int64(len(line))
		if anchor != nil && n == anchor.Lines && got != anchor.Chain {
			return rep, fmt.Errorf("%w: line %d does not carry the anchored chain value", ErrTampered, n)
		}
	}
	if anchor != nil && rep.Anchor.Lines < anchor.Lines {
		return rep, fmt.Errorf("%w: %d lines, but the anchor was taken at %d (truncated)", ErrTampered, rep.Anchor.Lines, anchor.Lines)
	}
	return rep, nil
}

// checkAnchor validates an anchor a caller passes in.
func checkAnchor(field string, a Anchor) error {
	if (a.Lines == 0) != (a.Chain == "") {
		return canary.Invalid(field, a, "must have both lines and a chain value, or neither")
	}
	if a.Chain != "" {
		if _, err := hex.DecodeString(a.Chain); err != nil || len(a.Chain) != 64 {
			return canary.Invalid(field+".Chain", a.Chain, "must be 64 hex digits")
		}
	}
	return nil
}
