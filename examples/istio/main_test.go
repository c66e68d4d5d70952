package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// valid is a complete set of flags; each case below spoils one.
var valid = []string{
	"-kubeconfig", "/nonexistent/kubeconfig",
	"-namespace", "shop", "-virtualservice", "reviews", "-route", "primary",
	"-host", "reviews", "-stable-subset", "v1", "-canary-subset", "v2",
	"-stable-workload", "reviews-v1", "-canary-workload", "reviews-v2",
	"-prometheus", "http://127.0.0.1:9",
}

func with(over ...string) []string {
	args := append([]string(nil), valid...)
	for i := 0; i+1 < len(over); i += 2 {
		found := false
		for j := 0; j+1 < len(args); j += 2 {
			if args[j] == over[i] {
				args[j+1], found = over[i+1], true
			}
		}
		if !found {
			args = append(args, over[i], over[i+1])
		}
	}
	return args
}

func TestBadFlagsExitTwo(t *testing.T) {
	cases := []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"-no-such-flag"}, "flag provided but not defined"},
		{with("-namespace", ""), "-namespace"},
		{with("-namespace", "Shop_1"), "-namespace"},
		{with("-virtualservice", "bad name"), "-virtualservice"},
		{with("-canary-subset", "v1"), "must differ"},
		{with("-canary-subset", ""), "-stable-subset and -canary-subset"},
		{with("-stable-host", "a"), "exclude each other"},
		{with("-host", ""), "give -host"},
		{with("-prometheus", ""), "-prometheus is required"},
		{with("-prometheus", "prometheus:9090"), "http:// or https://"},
		{with("-canary-workload", `x"}`), "-canary-workload"},
		{with("-steps", "10,5,100"), "increasing"},
		{with("-steps", "10,50"), "must be 100"},
		{with("-interval", "10ms"), "-interval"},
		{with("-max-error-rate", "2"), "-max-error-rate"},
		{with("-max-p99-ms", "0"), "-max-p99-ms"},
		{with("-test-header", "X-Canary=1", "-validate", "1m"), "-test-header"},
		{with("-test-header", "x-canary=1"), "set -validate"},
		{with("-mirror", "101", "-validate", "1m"), "-mirror"},
		{with("-retries-typo", "1"), "flag provided but not defined"},
		{append(with(), "extra"), "unexpected arguments"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), c.args, &stdout, &stderr)
		if code != 2 {
			t.Errorf("run(%q) = %d, want 2 (stderr %q)", c.args, code, stderr.String())
			continue
		}
		if !strings.Contains(stderr.String(), c.want) {
			t.Errorf("run(%q) stderr = %q, want it to mention %q", c.args, stderr.String(), c.want)
		}
	}
}

func TestHelpExitsZero(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, &stdout, &stderr); code != 0 {
		t.Fatalf("-h exit %d", code)
	}
	if !strings.Contains(stderr.String(), "usage: istio") || !strings.Contains(stderr.String(), "-prometheus") {
		t.Errorf("usage = %q", stderr.String())
	}
}

// Valid flags get past validation: with an unreadable kubeconfig the
// program fails at run time (exit 1), not with a usage error.
func TestValidFlagsReachTheCluster(t *testing.T) {
	for _, args := range [][]string{
		valid,
		{"-kubeconfig", "/nonexistent/kubeconfig", "-namespace", "shop", "-virtualservice", "reviews",
			"-stable-host", "reviews-stable", "-canary-host", "reviews-canary",
			"-stable-workload", "reviews-stable", "-canary-workload", "reviews-canary",
			"-prometheus", "https://prom.example:9090", "-validate", "5m", "-test-header", "x-canary=yes", "-mirror", "10"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args, &stdout, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), "kubeconfig /nonexistent/kubeconfig") {
			t.Errorf("run(%q) = %d, stderr %q; want exit 1 on the kubeconfig", args, code, stderr.String())
		}
	}
}
