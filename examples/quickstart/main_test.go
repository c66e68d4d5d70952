package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary/rollback"
)

// TestQuickstart runs both rollouts (about 30 s of real traffic on
// loopback).
func TestQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 20 s of real traffic; run without -short (bash scripts/test.sh)")
	}
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	// 3 s windows rather than the demo's 2 s: more requests per analysis,
	// so a CI machine busy with other test binaries still gives each
	// window enough evidence.
	o, err := parse([]string{"-audit", audit, "-interval", "3s"}, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, o, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{"promoting → succeeded", "rolling-back → rolled-back", "scale-canary: canary scaled to 0 replicas",
		"summary: healthy canary succeeded, faulty canary rolled-back"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	f, err := os.Open(audit)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, _, err := rollback.VerifyChain(f); err != nil || n < 10 {
		t.Errorf("audit trail: %d events, %v", n, err)
	}
	if !strings.Contains(out.String(), " GMT ") && !strings.Contains(out.String(), " BST ") {
		t.Errorf("times are not shown in Europe/London:\n%s", out.String())
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-steps", "10,x"}, {"-interval", "500ms"}, {"-interval", "1500ms"}, {"-rps", "0"},
		{"-bad-error-rate", "2"}, {"-hold", "0"}, {"-timeout", "-1s"}, {"-nope"},
	} {
		if _, err := parse(args, new(bytes.Buffer)); err == nil {
			t.Errorf("parse(%q) accepted bad flags", args)
		}
	}
}
