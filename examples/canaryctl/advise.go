package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/advice"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/rollback"
)

// cmdAdvise prints plan advice (package advice): at a traffic and a
// stable error rate, how long a plan takes to promote a good canary and to
// roll back a clear regression, and how often it asks a person. The plan
// comes from a rollout file (-f) or from flags.
func cmdAdvise(e env, args []string) error {
	fs := flag.NewFlagSet("canaryctl advise", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	file := fs.String("f", "", "take the plan from this rollout file (YAML) instead of --stages, --interval, --hold, --deadline")
	rps := fs.String("rps", "", "total requests per second of the service (both versions); required")
	errRate := fs.String("error-rate", "", `stable's error rate: a share ("0.01") or a percentage ("1%"); required`)
	stages := fs.String("stages", "10,20,30,40,50", "the canary's weight at each stage, comma-separated")
	fs.String("steps", "", "deprecated: the old name of --stages, still read")
	interval := fs.Duration("interval", time.Minute, "analysis interval")
	hold := fs.Duration("hold", 0, "each stage's hold (default: the interval)")
	deadline := fs.Duration("deadline", 0, "progress deadline (default: the rollout's, 10m)")
	presetName := fs.String("preset", "default", "analysis preset: default, strict, lenient or fixed-threshold")
	regression := fs.String("regression", "", "the clear regression's error rate (default: max(2 × stable, stable + 0.5 points))")
	runs := fs.Int("runs", advice.DefaultRuns, "simulated rollouts per canary")
	seed := fs.Uint64("seed", 1, "seed of the simulation")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr(fmt.Errorf("unexpected arguments: %s", strings.Join(pos, " ")))
	}
	in := advice.Input{Runs: *runs, Seed: *seed}
	if in.RPS, err = share("--rps", *rps, false); err != nil {
		return err
	}
	if in.ErrorRate, err = share("--error-rate", *errRate, true); err != nil {
		return err
	}
	if *regression != "" {
		if in.Regression, err = share("--regression", *regression, true); err != nil {
			return err
		}
	}
	stagesFlag, weights, err := renamedFlag(fs, e.stderr, "steps", "stages")
	if err != nil {
		return err
	}
	if stagesFlag == "stages" {
		weights = *stages
	}
	if in.Plan, err = advisePlan(fs, e.stderr, *file, stagesFlag, weights, *interval, *hold, *deadline); err != nil {
		return err
	}
	found := false
	for _, p := range analysis.Presets(analysis.PresetMetrics{}) {
		found = found || p.Name == *presetName
	}
	if !found {
		return usageErr(fmt.Errorf("--preset %q: want default, strict, lenient or fixed-threshold", *presetName))
	}
	name := *presetName
	in.Preset = func(m analysis.PresetMetrics) analysis.Preset {
		for _, p := range analysis.Presets(m) {
			if p.Name == name {
				return p
			}
		}
		return analysis.Preset{}
	}
	a, err := advice.Advise(e.ctx, in)
	if err != nil {
		return usageErr(err)
	}
	fmt.Fprint(e.stdout, a)
	return nil
}

// share parses a required number; with pct, "1%" is 0.01.
func share(flagName, s string, pct bool) (float64, error) {
	if s == "" {
		return 0, usageErr(fmt.Errorf("%s is required", flagName))
	}
	div := 1.0
	if t, ok := strings.CutSuffix(strings.TrimSpace(s), "%"); ok && pct {
		s, div = strings.TrimSpace(t), 100
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, usageErr(fmt.Errorf("%s %q: not a number", flagName, s))
	}
	return v / div, nil
}

// advisePlan is the plan of the rollout file, or of the flags: weights is
// the value of the flag --stagesFlag ("stages", or the deprecated "steps").
func advisePlan(fs *flag.FlagSet, warn io.Writer, file, stagesFlag, weights string, interval, hold, deadline time.Duration) (rollback.Plan, error) {
	if file != "" {
		var clash []string
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "stages", "steps", "interval", "hold", "deadline":
				clash = append(clash, "--"+f.Name)
			}
		})
		if len(clash) > 0 {
			return rollback.Plan{}, usageErr(fmt.Errorf("give the plan with -f or with %s, not both", strings.Join(clash, ", ")))
		}
		f, err := loadRollout(file, warn)
		if err != nil {
			return rollback.Plan{}, usageErr(err)
		}
		cfg, err := f.ro.Core(lookup)
		if err != nil {
			return rollback.Plan{}, usageErr(f.wrap(err))
		}
		return cfg.Plan, nil
	}
	var ws []int
	for _, s := range strings.Split(weights, ",") {
		w, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return rollback.Plan{}, usageErr(fmt.Errorf("--%s: want whole percentages separated by commas, such as 10,20,30,40,50", stagesFlag))
		}
		ws = append(ws, w)
	}
	return rollback.Plan{Stages: rollback.Weights(ws...), Interval: interval, Hold: hold, ProgressDeadline: deadline}, nil
}

// renamedFlag reads a flag that was renamed, oldName to newName. It
// returns the name to read and, when that is oldName, its value: the
// deprecated oldName is read when given, with one warning on warn naming
// both flags; given beside newName with a different value, it is a usage
// error (a *canary.FieldError) naming both.
func renamedFlag(fs *flag.FlagSet, warn io.Writer, oldName, newName string) (name, value string, err error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set[oldName] {
		return newName, "", nil
	}
	ov, nv := fs.Lookup(oldName).Value.String(), fs.Lookup(newName).Value.String()
	switch {
	case set[newName] && ov != nv:
		return "", "", usageErr(canary.Invalid("--"+oldName, ov, "is the old name of --%s, which is given too with another value (%q); give only --%s", newName, nv, newName))
	case set[newName]:
		fmt.Fprintf(warn, "%s: warning: --%s is deprecated and repeats --%s; drop it\n", fs.Name(), oldName, newName)
	default:
		fmt.Fprintf(warn, "%s: warning: --%s is deprecated; write --%s (read as --%s)\n", fs.Name(), oldName, newName, newName)
	}
	return oldName, ov, nil
}
