package audit_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/meshcanary/canary/audit"
)

// TestCutBelowAnchorIsTampering is issue 19 item 5: a trail cut in the
// middle of a line, or missing only its last newline, below its anchor is
// a truncated trail, not a torn write, with or without a key; and
// OpenFileAnchored refuses it and leaves the file as it was instead of
// truncating acknowledged events away. A torn line after the anchored
// lines (the one write never acknowledged) is still repaired.
func TestCutBelowAnchorIsTampering(t *testing.T) {
	for _, o := range []audit.Config{{}, {Key: []byte("k")}} {
		path := filepath.Join(t.TempDir(), "trail.jsonl")
		j, err := audit.OpenFile(path, o)
		if err != nil {
			t.Fatal(err)
		}
		record(t, j, "checkout", 1, 2, 3, 4, 5)
		anchor := j.Anchor()
		j.Close()
		whole, _ := os.ReadFile(path)
		lines := bytes.SplitAfter(whole, []byte("\n"))
		lastStart := len(whole) - len(lines[4]) // lines[5] is empty
		for name, size := range map[string]int{
			"no last newline":         len(whole) - 1,
			"cut mid last line":       lastStart + 10,
			"cut mid line 3 of 5":     len(lines[0]) + len(lines[1]) + 7,
			"cut mid anchored line 5": len(whole) - 30,
		} {
			cut := whole[:size]
			_, err := audit.Verify(bytes.NewReader(cut), o, &anchor)
			if !errors.Is(err, audit.ErrTampered) || errors.Is(err, audit.ErrTornLine) {
				t.Errorf("key %q, %s: Verify with the anchor = %v; want ErrTampered, not a torn line", o.Key, name, err)
			}
			if err := os.WriteFile(path, cut, 0o600); err != nil {
				t.Fatal(err)
			}
			if j, err := audit.OpenFileAnchored(path, o, anchor); !errors.Is(err, audit.ErrTampered) {
				if err == nil {
					j.Close()
				}
				t.Errorf("key %q, %s: OpenFileAnchored = %v; want ErrTampered", o.Key, name, err)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, cut) {
				t.Errorf("key %q, %s: the refused trail was changed from %d to %d bytes", o.Key, name, len(cut), len(after))
			}
		}

		// A torn sixth line after the anchor is the write that was never
		// acknowledged: repaired, and the five events are kept.
		torn := append(append([]byte{}, whole...), lines[0][:20]...)
		if err := os.WriteFile(path, torn, 0o600); err != nil {
			t.Fatal(err)
		}
		j, err = audit.OpenFileAnchored(path, o, anchor)
		if err != nil {
			t.Fatalf("key %q: a torn line after the anchor: %v", o.Key, err)
		}
		if got := j.Anchor(); got != anchor {
			t.Errorf("key %q: resumed at %+v, want %+v", o.Key, got, anchor)
		}
		j.Close()
		if after, _ := os.ReadFile(path); !bytes.Equal(after, whole) {
			t.Errorf("key %q: repaired trail is %d bytes, want the %d of the five lines", o.Key, len(after), len(whole))
		}
	}
}

// TestSecondWriterIsRefused is issue 19 item 6: two drivers opening one
// trail each kept their own Seq and chain and broke it for good. The
// second OpenFile now fails with ErrLocked until the first closes, and
// the trail verifies.
func TestSecondWriterIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trail.jsonl")
	first, err := audit.OpenFile(path, audit.Config{})
	if err != nil {
		t.Fatal(err)
	}
	record(t, first, "checkout", 1, 2)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			second, err := audit.OpenFile(path, audit.Config{})
			if err == nil {
				record(t, second, "checkout", 3)
				second.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, audit.ErrLocked) {
			t.Errorf("opener %d: %v, want ErrLocked", i+2, err)
		}
	}
	record(t, first, "checkout", 3)
	first.Close()
	second, err := audit.OpenFile(path, audit.Config{})
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	record(t, second, "checkout", 4)
	second.Close()
	data, _ := os.ReadFile(path)
	if rep, err := audit.Verify(bytes.NewReader(data), audit.Config{}, nil); err != nil || rep.Last["checkout"] != 4 || rep.Anchor.Lines != 4 {
		t.Errorf("Verify = %+v, %v; want events 1 to 4 once each", rep, err)
	}
}
