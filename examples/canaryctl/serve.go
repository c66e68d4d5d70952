package main

// canaryctl serve: an Alertmanager webhook receiver (package trigger) for
// the rollouts of a store. A firing alert becomes a pause or abort queued
// for the rollout's driver (canaryctl run) through the store's command
// queue, exactly once per alert: the receiver's ledger of applied signals
// lives in the same store (<name>.signals), written with compare-and-swap.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/trigger"
)

// routeFlags collects --route MATCHERS:ROLLOUT:ACTION.
type routeFlags []trigger.Route

func (r *routeFlags) String() string { return fmt.Sprint(len(*r), " routes") }

func (r *routeFlags) Set(s string) error {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return fmt.Errorf("%q: want MATCHERS:ROLLOUT:ACTION, e.g. service=checkout,namespace=shop:checkout:roll-back", s)
	}
	rt := trigger.Route{Match: map[string]string{}, Rollout: parts[1]}
	if err := rt.Action.UnmarshalText([]byte(parts[2])); err != nil {
		return err
	}
	if parts[0] != "" {
		for _, m := range strings.Split(parts[0], ",") {
			k, v, ok := strings.Cut(m, "=")
			if !ok || k == "" {
				return fmt.Errorf("%q: a matcher is label=value", m)
			}
			rt.Match[k] = v
		}
	}
	*r = append(*r, rt)
	return nil
}

// storeTarget is a rollout driven by canaryctl run, acted on through its
// command queue.
type storeTarget struct {
	st   rolloutStore
	name string
	wait time.Duration
}

func (t storeTarget) queue(ctx context.Context, op, actor, reason string) (rollback.Status, error) {
	id, err := enqueue(ctx, t.st, t.name, command{Op: op, Actor: actor, Reason: reason, At: time.Now().UTC()})
	if err != nil {
		return rollback.Status{}, err
	}
	// Queued is applied: the driver applies a queued command exactly once
	// (now or when it resumes). Wait a little for its result to report it.
	res, err := awaitResult(ctx, t.st, t.name, id, t.wait)
	if err != nil {
		rec, _, _ := loadRolloutRecord(ctx, t.st, t.name)
		return rec.Status, nil
	}
	if !res.OK {
		return res.After, fmt.Errorf("%w: %s", rollback.ErrNotAllowed, res.Error)
	}
	return res.After, nil
}

func (t storeTarget) Pause(ctx context.Context, _ time.Time, actor, reason string) (rollback.Status, error) {
	return t.queue(ctx, "pause", actor, reason)
}

func (t storeTarget) Abort(ctx context.Context, _ time.Time, actor, reason string) (rollback.Status, error) {
	return t.queue(ctx, "abort", actor, reason)
}

type storeTargets struct {
	st   rolloutStore
	wait time.Duration
}

func (s storeTargets) Target(ctx context.Context, name string) (trigger.Target, error) {
	rec, _, err := loadRolloutRecord(ctx, s.st, name)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", trigger.ErrUnknownRollout, err)
	}
	if rec.Status.Phase.Final() {
		return nil, fmt.Errorf("%w: %s has finished (%s)", trigger.ErrUnknownRollout, name, rec.Status.Phase)
	}
	return storeTarget{st: s.st, name: name, wait: s.wait}, nil
}

func readSecret(path, what string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the %s file: %w", what, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil, fmt.Errorf("the %s file %s is empty", what, path)
	}
	return []byte(s), nil
}

func cmdServe(e env, args []string) error {
	fs, dir := flags("serve", e)
	listen := fs.String("listen", "127.0.0.1:9095", "address the receiver listens on")
	path := fs.String("path", "/alerts", "URL path of the Alertmanager receiver")
	tokenFile := fs.String("token-file", "", "file holding the bearer token Alertmanager sends (http_config.authorization.credentials_file)")
	keyFile := fs.String("hmac-key-file", "", "file holding the HMAC key of signed requests (instead of --token-file)")
	wait := fs.Duration("wait", 10*time.Second, "how long a request waits for the driver to apply a command")
	tz := addZone(fs) // the alert's firing time in the audit reason
	var routes routeFlags
	fs.Var(&routes, "route", "MATCHERS:ROLLOUT:ACTION, repeatable: alerts with labels MATCHERS (k=v,k=v) act on ROLLOUT (empty: the alert's rollout label) with ACTION (pause or roll-back)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageErr(err)
	}
	if fs.NArg() != 0 {
		return usageErr(fmt.Errorf("unexpected arguments %v", fs.Args()))
	}
	if len(routes) == 0 {
		return usageErr(errors.New("give at least one --route"))
	}
	var auth trigger.Authenticator
	switch {
	case (*tokenFile == "") == (*keyFile == ""):
		return usageErr(errors.New("give exactly one of --token-file and --hmac-key-file"))
	case *tokenFile != "":
		tok, err := readSecret(*tokenFile, "token")
		if err != nil {
			return usageErr(err)
		}
		auth = trigger.Bearer{Token: string(tok)}
	default:
		key, err := readSecret(*keyFile, "HMAC key")
		if err != nil {
			return usageErr(err)
		}
		h, err := trigger.NewHMAC(trigger.HMACConfig{Key: key})
		if err != nil {
			return usageErr(err)
		}
		auth = h
	}
	st, err := openStore(e.ctx, dir, false)
	if err != nil {
		return usageErr(err)
	}
	recv := &trigger.Alertmanager{
		Applier:  &trigger.Applier{Store: st, Targets: storeTargets{st: st, wait: *wait}},
		Routes:   routes,
		Auth:     auth,
		Log:      func(l string) { fmt.Fprintln(e.stderr, l) },
		Location: tz.loc,
	}
	if err := recv.Validate(); err != nil {
		return usageErr(err)
	}
	mux := http.NewServeMux()
	mux.Handle(*path, recv)
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: *wait + 30*time.Second}
	fmt.Fprintf(e.stdout, "receiving Alertmanager webhooks on http://%s%s for the rollouts in %s\n", l.Addr(), *path, st.where)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case <-e.ctx.Done():
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	case err := <-errc:
		return err
	}
}
