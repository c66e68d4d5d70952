package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/meshcanary/canary/audit"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"
)

// A keyed trail in a file, its anchor kept in a store, and a verification
// that catches the removal of the last line.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "audit")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "checkout.jsonl")
	opts := audit.Config{Key: []byte("from the operator's secret store")}

	trail, err := audit.OpenFile(path, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	anchors := &store.Memory{}
	version := ""
	for seq := uint64(1); seq <= 3; seq++ {
		e := rollback.Event{Seq: seq, Time: time.Date(2026, 7, 1, 12, int(seq), 0, 0, time.UTC), Rollout: "checkout", Kind: rollback.KindManual, Action: "pause"}
		if err := trail.Record(ctx, e); err != nil {
			fmt.Println(err)
			return
		}
		a, _ := json.Marshal(trail.Anchor())
		if version, err = anchors.Save(ctx, "audit-anchor-checkout", a, version); err != nil {
			fmt.Println(err)
			return
		}
	}
	// Delivered again after a crash: not written twice.
	_ = trail.Record(ctx, rollback.Event{Seq: 3, Rollout: "checkout", Kind: rollback.KindManual, Action: "pause"})
	trail.Close()

	data, _ := os.ReadFile(path)
	raw, _, _ := anchors.Load(ctx, "audit-anchor-checkout")
	var anchor audit.Anchor
	_ = json.Unmarshal(raw, &anchor)
	rep, err := audit.Verify(bytes.NewReader(data), opts, &anchor)
	fmt.Println(rep.Anchor.Lines, "lines, last seq", rep.Last["checkout"], "error:", err)

	cut := data[:bytes.LastIndexByte(data[:len(data)-1], '\n')+1]
	_, err = audit.Verify(bytes.NewReader(cut), opts, &anchor)
	fmt.Println(errors.Is(err, audit.ErrTampered), err)
	// Output:
	// 3 lines, last seq 3 error: <nil>
	// true audit: trail tampered with: 2 lines, but the anchor was taken at 3 (truncated)
}
