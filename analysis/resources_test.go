package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/meshcanary/canary"
)

// resLook is what one analysis of a rollout sees: each version's total
// CPU (cores), total working set (bytes), replicas, requests in the window
// and restarts.
type resLook struct {
	cpuC, cpuS         float64
	memC, memS         float64
	replC, replS       float64
	reqC, reqS         float64
	restartC, restartS float64
}

func (l resLook) input(step int, memory json.RawMessage) Input {
	obs := func(name string, c, s float64) Observation {
		return Observation{Metric: name, Canary: Observed(c, 0), Stable: Observed(s, 0)}
	}
	return Input{
		Stage:  step,
		Memory: memory,
		Observations: []Observation{
			obs("cpu", l.cpuC, l.cpuS),
			obs("memory", l.memC, l.memS),
			obs("replicas", l.replC, l.replS),
			obs("requests", l.reqC, l.reqS),
			obs("restarts", l.restartC, l.restartS),
		},
	}
}

var resAnalyzer = Resources{
	Usage: []ResourceUsage{
		{Metric: "cpu", Per: ResourcePerRequest},
		{Metric: "memory", Per: ResourcePerReplica},
	},
	Faults:   []string{"restarts"},
	Replicas: "replicas",
	Requests: "requests",
}

// run feeds looks to a in order, carrying Memory as a rollout does, and
// returns the verdicts.
func run(t *testing.T, a Analyzer, step int, looks []resLook) []Verdict {
	t.Helper()
	var mem json.RawMessage
	var out []Verdict
	for i, l := range looks {
		v, err := a.Analyze(context.Background(), l.input(step, mem))
		if err != nil {
			t.Fatalf("look %d: %v", i, err)
		}
		out = append(out, v)
		mem = v.Memory
	}
	return out
}

func firstOutcome(vs []Verdict, o Outcome) int {
	for i, v := range vs {
		if v.Outcome == o {
			return i
		}
	}
	return -1
}

// healthy is a look at 10 % canary traffic: 1 canary pod and 9 stable
// pods, 0.1 ms of CPU per request and 200 MB per pod for both.
func healthy(noise func() float64) resLook {
	return resLook{
		cpuC: 0.1 * noise(), cpuS: 0.9 * noise(),
		memC: 200e6 * noise(), memS: 9 * 200e6 * noise(),
		replC: 1, replS: 9,
		reqC: 1000, reqS: 9000,
	}
}

func noiseFrom(seed uint64, spread float64) func() float64 {
	r := rand.New(rand.NewPCG(seed, 7))
	return func() float64 { return math.Exp(spread * r.NormFloat64()) }
}

func TestResourcesCanaryAtTenPercentUsingLessInTotalPasses(t *testing.T) {
	looks := make([]resLook, 20)
	noise := noiseFrom(1, 0.05)
	for i := range looks {
		looks[i] = healthy(noise)
	}
	vs := run(t, resAnalyzer, 0, looks)
	if i := firstOutcome(vs, Fail); i >= 0 {
		t.Fatalf("look %d failed a canary using the same CPU per request (less in total): %s", i, vs[i])
	}
	i := firstOutcome(vs, Pass)
	if i < 0 {
		t.Fatalf("never passed in %d looks: %s", len(vs), vs[len(vs)-1])
	}
	if i < 5 {
		t.Errorf("passed at look %d; six agreeing looks are the fewest that reach 1/β = 20", i)
	}
}

func TestResourcesTwiceTheCPUPerRequestFails(t *testing.T) {
	looks := make([]resLook, 20)
	noise := noiseFrom(2, 0.05)
	for i := range looks {
		looks[i] = healthy(noise)
		looks[i].cpuC *= 2 // in total still less than stable's 0.9 cores
	}
	if looks[0].cpuC >= looks[0].cpuS {
		t.Fatal("test setup: the canary should use less CPU in total")
	}
	vs := run(t, resAnalyzer, 0, looks)
	i := firstOutcome(vs, Fail)
	if i < 0 {
		t.Fatalf("a canary using 2× the CPU per request was never failed: %s", vs[len(vs)-1])
	}
	if p := firstOutcome(vs, Pass); p >= 0 && p < i {
		t.Errorf("passed at look %d before failing at %d", p, i)
	}
	if i > 8 {
		t.Errorf("failed only at look %d", i)
	}
	var ev Evidence
	for _, e := range vs[i].Evidence {
		if e.Metric == "cpu" {
			ev = e
		}
	}
	if ev.Fail != 1 || ev.More != 0 || ev.Requests != int64(1000*(i+1)) {
		t.Errorf("cpu evidence at the Fail = %+v", ev)
	}
}

func TestResourcesMemoryLeakFails(t *testing.T) {
	looks := make([]resLook, 30)
	noise := noiseFrom(3, 0.02)
	for i := range looks {
		looks[i] = healthy(noise)
		looks[i].memC *= 1 + 0.1*float64(i) // +20 MB a look
	}
	vs := run(t, resAnalyzer, 0, looks)
	i := firstOutcome(vs, Fail)
	if i < 0 {
		t.Fatalf("a leaking canary was never failed: %s", vs[len(vs)-1])
	}
	if p := firstOutcome(vs, Pass); p >= 0 && p < i {
		t.Errorf("a leaking canary passed at look %d before failing at %d", p, i)
	}
	t.Logf("the leak failed at look %d", i)
	if d := vs[i].Details; d[2].Metric != "memory" || d[2].Outcome != Fail {
		t.Errorf("the Fail is not memory's: %+v", d)
	}
}

func TestResourcesRegressionAfterAPassFails(t *testing.T) {
	looks := make([]resLook, 30)
	noise := noiseFrom(5, 0.05)
	for i := range looks {
		looks[i] = healthy(noise)
		if i >= 8 {
			looks[i].cpuC *= 2
		}
	}
	vs := run(t, resAnalyzer, 0, looks)
	if p := firstOutcome(vs, Pass); p < 0 || p >= 8 {
		t.Fatalf("first Pass at look %d, want one before the regression at look 8", p)
	}
	if vs[8].Outcome == Pass && vs[9].Outcome == Pass {
		t.Errorf("the Pass outlived two looks at 2× CPU: %s", vs[9])
	}
	if i := firstOutcome(vs, Fail); i < 8 {
		t.Errorf("a regression after a Pass was not failed (first Fail at %d): %s", i, vs[len(vs)-1])
	} else {
		t.Logf("regression at look 8 failed at look %d", i)
	}
}

func TestResourcesRestartFailsAtOnce(t *testing.T) {
	for _, name := range []string{"restart", "oom kill"} {
		l := healthy(func() float64 { return 1 })
		l.restartC = 1
		vs := run(t, resAnalyzer, 0, []resLook{l})
		if vs[0].Outcome != Fail || vs[0].Details[0].Outcome != Fail || vs[0].Evidence[0].Fail != 1 {
			t.Errorf("%s: one canary restart gave %s, want Fail on its own", name, vs[0])
		}
	}
	// Stable restarting is no evidence against the canary.
	l := healthy(func() float64 { return 1 })
	l.restartS = 3
	if vs := run(t, resAnalyzer, 0, []resLook{l}); vs[0].Outcome == Fail {
		t.Errorf("stable's restarts failed the canary: %s", vs[0])
	}
}

func TestResourcesNoDataAddsNothing(t *testing.T) {
	a := resAnalyzer
	l := healthy(func() float64 { return 1 })
	v1, err := a.Analyze(context.Background(), l.input(0, nil))
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string]Input{
		"no cpu": {Stage: 0, Memory: v1.Memory, Observations: []Observation{
			{Metric: "replicas", Canary: Observed(1, 0), Stable: Observed(9, 0)},
			{Metric: "requests", Canary: Observed(1000, 0), Stable: Observed(9000, 0)},
		}},
		"too few requests": func() Input {
			t := l
			t.reqC = 10
			return t.input(0, v1.Memory)
		}(),
		"no replicas": func() Input {
			t := l
			t.replC = 0
			return t.input(0, v1.Memory)
		}(),
	} {
		v, err := a.Analyze(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if v.Outcome != Inconclusive {
			t.Errorf("%s: %s, want inconclusive", name, v)
		}
		var before, after resMemory
		_ = json.Unmarshal(v1.Memory, &before)
		_ = json.Unmarshal(v.Memory, &after)
		for _, m := range []string{"cpu", "memory"} {
			b, a := before.Metrics[m], after.Metrics[m]
			if name == "no cpu" && m == "memory" {
				continue // memory had its data
			}
			if (name == "no replicas" && m == "cpu") || (name == "too few requests" && m == "memory") {
				continue // per request or per replica: the other unit was there
			}
			if *a != *b {
				t.Errorf("%s: %s evidence changed on a look without data: %+v → %+v", name, m, *b, *a)
			}
		}
	}
}

func TestResourcesEvidenceRestartsWithTheStep(t *testing.T) {
	looks := make([]resLook, 12)
	for i := range looks {
		looks[i] = healthy(func() float64 { return 1 })
	}
	var mem json.RawMessage
	var last Verdict
	for i, l := range looks {
		step := 0
		if i >= 6 {
			step = 1
		}
		v, err := resAnalyzer.Analyze(context.Background(), l.input(step, mem))
		if err != nil {
			t.Fatal(err)
		}
		if i == 6 && v.Outcome == Pass {
			t.Errorf("the first look of step 1 passed on step 0's evidence: %s", v)
		}
		mem, last = v.Memory, v
	}
	if last.Outcome != Pass {
		t.Errorf("six agreeing looks in step 1 did not pass: %s", last)
	}
}

// Anytime validity: with the same use per unit (noise only), the chance
// that the canary is ever failed over 40 looks stays within Alpha.
func TestResourcesFalseFailRateWithinAlpha(t *testing.T) {
	const runs, looks = 400, 40
	a := Resources{Usage: []ResourceUsage{{Metric: "cpu", FailMargin: -1}}, Requests: "requests", Alpha: 0.05}
	fails := 0
	for s := range runs {
		noise := noiseFrom(uint64(100+s), 0.3)
		ls := make([]resLook, looks)
		for i := range ls {
			ls[i] = healthy(noise)
		}
		if firstOutcome(run(t, a, 0, ls), Fail) >= 0 {
			fails++
		}
	}
	if rate := float64(fails) / runs; rate > 0.05 {
		t.Errorf("false Fail rate %.3f over %d looks, want ≤ α = 0.05", rate, looks)
	}
}

func TestResourcesMemoryIsBounded(t *testing.T) {
	looks := make([]resLook, 500)
	noise := noiseFrom(4, 0.3)
	for i := range looks {
		looks[i] = healthy(noise)
	}
	vs := run(t, Resources{Usage: []ResourceUsage{{Metric: "cpu"}}, Requests: "requests", Tolerance: 0.01, FailMargin: 0.5}, 0, looks)
	if n := len(vs[len(vs)-1].Memory); n > 300 {
		t.Errorf("memory after 500 looks is %d bytes", n)
	}
}

func TestResourcesValidate(t *testing.T) {
	for name, r := range map[string]Resources{
		"zero":                            {},
		"per request, no requests metric": {Usage: []ResourceUsage{{Metric: "cpu"}}},
		"per replica, no replicas metric": {Usage: []ResourceUsage{{Metric: "mem", Per: ResourcePerReplica}}, Requests: "r"},
		"empty metric":                    {Usage: []ResourceUsage{{}}, Requests: "r"},
		"twice":                           {Usage: []ResourceUsage{{Metric: "cpu"}}, Faults: []string{"cpu"}, Requests: "r"},
		"bad per":                         {Usage: []ResourceUsage{{Metric: "cpu", Per: 7}}, Requests: "r"},
		"alpha":                           {Faults: []string{"x"}, Alpha: 1},
		"beta":                            {Faults: []string{"x"}, Beta: -0.1},
		"tolerance":                       {Faults: []string{"x"}, Tolerance: -1},
		"min requests":                    {Faults: []string{"x"}, MinRequests: -1},
		"nan tolerance":                   {Faults: []string{"x"}, Tolerance: math.NaN()},
	} {
		var fe *canary.FieldError
		if _, err := r.Analyze(context.Background(), Input{}); !errors.As(err, &fe) {
			t.Errorf("%s: Analyze = %v, want a *canary.FieldError", name, err)
		}
	}
	if _, err := resAnalyzer.Analyze(context.Background(), Input{Memory: json.RawMessage(`[1,2]`)}); !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("foreign memory accepted: %v", err)
	}
}

// TestResourcesLeaning (issue 18, item 4): resource use is on the same
// footing as the rate metrics — a look within the tolerance leans towards
// "no excess use" (a rollout may raise the weight on it), two looks in a
// row above the fail margin point to excess use (a rollout takes the
// weight back), and neither is a Pass or a Fail.
func TestResourcesLeaning(t *testing.T) {
	same := resLook{cpuC: 1, cpuS: 9, memC: 1e9, memS: 9e9, replC: 1, replS: 9, reqC: 1000, reqS: 9000}
	heavy := same
	heavy.cpuC, heavy.memC = 1.5, 1.5e9
	vs := run(t, resAnalyzer, 0, []resLook{same, heavy, heavy})
	if v := vs[0]; v.Outcome != Inconclusive || !v.Leaning || v.Regressing {
		t.Errorf("a look like stable: %v, leaning %v, regressing %v: %s", v.Outcome, v.Leaning, v.Regressing, v.Reason)
	}
	if v := vs[1]; v.Leaning {
		t.Errorf("a look 50 %% above stable still leans: %s", v.Reason)
	}
	if v := vs[2]; v.Outcome != Inconclusive || v.Leaning || !v.Regressing {
		t.Errorf("two looks 50 %% above stable: %v, leaning %v, regressing %v: %s", v.Outcome, v.Leaning, v.Regressing, v.Reason)
	}
	restart := same
	restart.restartC = 1
	if v := run(t, resAnalyzer, 0, []resLook{restart})[0]; v.Leaning || v.Outcome != Fail {
		t.Errorf("a restart: %v, leaning %v", v.Outcome, v.Leaning)
	}
}
