package audit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/meshcanary/canary/rollback"
)

// flakyFile is an *os.File whose n-th Write writes short bytes and fails,
// or whose n-th Sync fails, counted across reopenings.
type flakyFile struct {
	*os.File
	c *faults
}

type faults struct {
	failWrite, short, failSync int
	writes, syncs              int
}

func (f flakyFile) Write(p []byte) (int, error) {
	f.c.writes++
	if f.c.writes == f.c.failWrite {
		n, _ := f.File.Write(p[:min(f.c.short, len(p))])
		return n, errors.New("disk full")
	}
	return f.File.Write(p)
}

func (f flakyFile) Sync() error {
	f.c.syncs++
	if f.c.syncs == f.c.failSync {
		return errors.New("fsync: input/output error")
	}
	return f.File.Sync()
}

// TestFileTrailRecoversFromFaults: a file trail reopens itself after a
// short write (truncating the torn line) or a failed fsync (reading back
// the line it holds), so the re-delivered event is in the file once.
func TestFileTrailRecoversFromFaults(t *testing.T) {
	for _, c := range []faults{
		{failWrite: 3, short: 25},
		{failWrite: 3, short: 0},
		{failSync: 3},
		{failSync: 1},
	} {
		c := c
		path := filepath.Join(t.TempDir(), "trail.jsonl")
		j := &JSONLines{o: Config{Key: []byte("k")}, path: path, open: func(p string) (file, error) {
			f, err := openOSFile(p)
			if err != nil {
				return nil, err
			}
			return flakyFile{f.(*os.File), &c}, nil
		}}
		if err := j.reopen(); err != nil {
			t.Fatal(err)
		}
		failed := 0
		for seq := uint64(1); seq <= 4; {
			e := rollback.Event{Seq: seq, Time: time.Date(2026, 3, 29, 0, 59, 0, 0, time.UTC), Rollout: "r", Kind: rollback.KindManual, Action: "pause"}
			if err := j.Record(context.Background(), e); err != nil {
				failed++
				if failed > 2 {
					t.Fatalf("%+v: event %d keeps failing: %v", c, seq, err)
				}
				continue
			}
			seq++
		}
		j.Close()
		if failed != 1 {
			t.Errorf("%+v: %d failures, want the one injected", c, failed)
		}
		data, _ := os.ReadFile(path)
		rep, err := Verify(bytes.NewReader(data), Config{Key: []byte("k")}, nil)
		if err != nil || rep.Anchor.Lines != 4 || rep.Last["r"] != 4 {
			t.Errorf("%+v: Verify = %+v, %v; want the 4 events once each", c, rep, err)
		}
	}
}

// TestReopenRefusesCutBelowAcknowledged: a file trail that reopens itself
// after a failed write checks the file against the last line it
// acknowledged; a trail cut in the middle of an acknowledged line
// meanwhile is refused as tampered and left as it is, not truncated to
// its last whole line (issue 19 item 5).
func TestReopenRefusesCutBelowAcknowledged(t *testing.T) {
	c := faults{failWrite: 4, short: 0}
	path := filepath.Join(t.TempDir(), "trail.jsonl")
	j := &JSONLines{path: path, open: func(p string) (file, error) {
		f, err := openOSFile(p)
		if err != nil {
			return nil, err
		}
		return flakyFile{f.(*os.File), &c}, nil
	}}
	if err := j.reopen(); err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	at := time.Date(2026, 3, 29, 0, 59, 0, 0, time.UTC)
	for seq := uint64(1); seq <= 3; seq++ {
		if err := j.Record(context.Background(), rollback.Event{Seq: seq, Time: at, Rollout: "r", Kind: rollback.KindManual, Action: "pause"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Record(context.Background(), rollback.Event{Seq: 4, Time: at, Rollout: "r", Kind: rollback.KindManual, Action: "pause"}); err == nil {
		t.Fatal("the injected write failure did not fail")
	}
	whole, _ := os.ReadFile(path)
	cut := whole[:len(whole)/2] // in the middle of line 2
	if err := os.WriteFile(path, cut, 0o600); err != nil {
		t.Fatal(err)
	}
	err := j.Record(context.Background(), rollback.Event{Seq: 4, Time: at, Rollout: "r", Kind: rollback.KindManual, Action: "pause"})
	if !errors.Is(err, ErrTampered) {
		t.Errorf("Record after the cut = %v; want ErrTampered", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, cut) {
		t.Errorf("the cut trail was changed from %d to %d bytes", len(cut), len(after))
	}
}
