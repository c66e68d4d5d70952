package spec

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"

	"github.com/meshcanary/canary/traffic"
)

func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }
func sortStrings(s []string)               { slices.Sort(s) }

// Validate checks everything that can be checked without connecting
// anywhere: required fields, enumerations, weights, durations, that every
// query template parses and every built-in template and preset exists, and
// that the plan, policy and analyzers are ones [rollback.New] accepts. The
// first problem is returned as a *[canary.FieldError] naming the field as
// written in the file. lookup resolves built-in templates beyond the
// package's own (see Builtins); nil means the package's own only.
func (ro *Rollout) Validate(lookup Lookup) error {
	if err := ro.Signals.validate(); err != nil {
		return err
	}
	_, err := ro.Core(lookup)
	if err != nil {
		return err
	}
	_, err = ro.Queries(lookup)
	return err
}

func (ro *Rollout) validateHead() error {
	if ro.APIVersion != "" && ro.APIVersion != APIVersion {
		return canary.Invalid("apiVersion", ro.APIVersion, "must be %q", APIVersion)
	}
	if ro.Kind != "" && ro.Kind != Kind {
		return canary.Invalid("kind", ro.Kind, "must be %q", Kind)
	}
	if err := store.ValidKey("name", ro.Name); err != nil {
		return err
	}
	if _, err := ro.Location(); err != nil {
		return err
	}
	for f, v := range map[string]string{"target.namespace": ro.Target.Namespace, "target.service": ro.Target.Service,
		"target.stable.workload": ro.Target.Stable.Workload, "target.stable.version": ro.Target.Stable.Version,
		"target.canary.workload": ro.Target.Canary.Workload, "target.canary.version": ro.Target.Canary.Version} {
		if v != "" && !metrics.ValidValue(v) {
			return canary.Invalid(f, v, "must hold only letters, digits, '-', '_' and '.', starting and ending with a letter or digit")
		}
	}
	return ro.validateRouter()
}

func (ro *Rollout) validateRouter() error {
	r := ro.Router
	if handled, err := r.validateRouters(); handled || err != nil {
		return err // spec/routers.go
	}
	n := 0
	for _, set := range []bool{r.HTTPSplit != nil, r.Istio != nil, r.GatewayAPI != nil, r.AppMesh != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return canary.Invalid("router", nil, "must set exactly one of httpsplit, istio, gatewayapi, appmesh (%d set)", n)
	}
	req := func(field, v string) error {
		if strings.TrimSpace(v) == "" {
			return canary.Invalid(field, nil, "is required")
		}
		return nil
	}
	switch {
	case r.HTTPSplit != nil:
		h := r.HTTPSplit
		if _, _, err := net.SplitHostPort(h.Listen); err != nil {
			return canary.Invalid("router.httpsplit.listen", h.Listen, "must be host:port, e.g. 127.0.0.1:8080")
		}
		if err := checkURL("router.httpsplit.stable", h.Stable); err != nil {
			return err
		}
		return checkURL("router.httpsplit.canary", h.Canary)
	case r.Istio != nil:
		i := r.Istio
		for _, c := range [][2]string{{"router.istio.namespace", i.Namespace}, {"router.istio.virtualService", i.VirtualService},
			{"router.istio.stable.host", i.Stable.Host}, {"router.istio.canary.host", i.Canary.Host}} {
			if err := req(c[0], c[1]); err != nil {
				return err
			}
		}
		if (i.Stable.Subset == "") != (i.Canary.Subset == "") {
			return canary.Invalid("router.istio.canary.subset", i.Canary.Subset, "give a subset for both versions (subset mode) or neither (host mode)")
		}
		if i.CreateSubsets && i.DestinationRule == "" {
			return canary.Invalid("router.istio.destinationRule", nil, "is required with createSubsets")
		}
	case r.GatewayAPI != nil:
		g := r.GatewayAPI
		for _, c := range [][2]string{{"router.gatewayapi.namespace", g.Namespace}, {"router.gatewayapi.route", g.Route},
			{"router.gatewayapi.stable", g.Stable}, {"router.gatewayapi.canary", g.Canary}} {
			if err := req(c[0], c[1]); err != nil {
				return err
			}
		}
	case r.AppMesh != nil:
		a := r.AppMesh
		for _, c := range [][2]string{{"router.appmesh.namespace", a.Namespace}, {"router.appmesh.virtualRouter", a.VirtualRouter},
			{"router.appmesh.stable", a.Stable}, {"router.appmesh.canary", a.Canary}} {
			if err := req(c[0], c[1]); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkURL(field, s string) error {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return canary.Invalid(field, nil, "is required")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return canary.Invalid(field, s, "must be an absolute http or https URL")
	case u.User != nil:
		return canary.Invalid(field, u.Redacted(), "must not carry user information")
	}
	return nil
}

// RollbackPlan returns the [rollback.Plan] the file describes, checked.
func (ro *Rollout) RollbackPlan() (rollback.Plan, error) {
	p := ro.Plan
	if p.Interval <= 0 {
		return rollback.Plan{}, canary.Invalid("plan.interval", nil, `is required, e.g. "1m"`)
	}
	out := rollback.Plan{StageWeight: p.StageWeight, MaxWeight: p.MaxWeight, Hold: p.Hold.D(), Interval: p.Interval.D(),
		ProgressDeadline: p.Deadline.D(), ApproveIncrease: p.Gates.BeforeIncrease, ApprovePromotion: p.Gates.BeforePromotion}
	prev := 0
	for i, s := range p.Stages {
		// The path indexes the list as the file does (from 0); the
		// reason counts stages as people and Status do (from 1).
		f := fmt.Sprintf("plan.stages[%d].weight", i)
		switch {
		case s.Weight < 1 || s.Weight > 100:
			return rollback.Plan{}, canary.Invalid(f, s.Weight, "stage %d's weight must be between 1 and 100", i+1)
		case s.Weight <= prev:
			return rollback.Plan{}, canary.Invalid(f, s.Weight, "stage %d's weight must be above stage %d's (%d)", i+1, i, prev)
		}
		prev = s.Weight
		out.Stages = append(out.Stages, rollback.Stage{Weight: s.Weight, Hold: s.Hold.D()})
	}
	if z := p.ZeroTraffic; z != nil {
		zt := &rollback.ZeroTraffic{Duration: z.Duration.D(), Mirror: z.Mirror}
		if h := z.TestHeader; h != nil {
			if h.Name == "" || h.Value == "" {
				return rollback.Plan{}, canary.Invalid("plan.zeroTraffic.testHeader", nil, "needs both name and value")
			}
			zt.TestRoute = newHeaderRoute(h.Name, h.Value)
		}
		out.ZeroTraffic = zt
	}
	if err := p.shapes(&out); err != nil {
		return rollback.Plan{}, err
	}
	if err := out.Validate(); err != nil {
		return rollback.Plan{}, rename(err)
	}
	return out, nil
}

// shapes fills out's strategy fields from the file's.
func (p Plan) shapes(out *rollback.Plan) error {
	switch p.Strategy {
	case "", "canary", "abtest", "bluegreen":
		out.Strategy = rollback.Strategy(p.Strategy)
	default:
		return canary.Invalid("plan.strategy", p.Strategy, "must be canary, abtest or bluegreen")
	}
	if a := p.ABTest; a != nil {
		out.ABTest = &rollback.ABTest{Iterations: a.Iterations}
		if len(a.Match) > traffic.MaxMatches {
			return canary.Invalid("plan.abTest.match", len(a.Match), "at most %d matches", traffic.MaxMatches)
		}
		for i, m := range a.Match {
			tm, err := m.match(fmt.Sprintf("plan.abTest.match[%d]", i))
			if err != nil {
				return err
			}
			out.ABTest.Cohort = append(out.ABTest.Cohort, tm)
		}
	}
	if b := p.BlueGreen; b != nil {
		out.BlueGreen = &rollback.BlueGreen{Mirror: b.Mirror, PrePromotion: b.PrePromotion.D(),
			PostPromotion: b.PostPromotion.D(), ScaleDownDelay: b.ScaleDownDelay.D()}
		if v := b.Preview; v != nil {
			if v.Header == "" || v.Value == "" {
				return canary.Invalid("plan.blueGreen.preview", nil, "needs both header and value")
			}
			out.BlueGreen.Preview = newHeaderRoute(v.Header, v.Value)
		}
	}
	if a := p.SessionAffinity; a != nil {
		out.SessionAffinity = &rollback.SessionAffinity{Cookie: a.Cookie, MaxAge: a.MaxAge.D()}
	}
	return nil
}

// match is m as a traffic.Match, checked, its errors naming the file's
// keys under path.
func (m Match) match(path string) (traffic.Match, error) {
	var tm traffic.Match
	switch {
	case m.Header != "" && m.Cookie != "":
		return tm, canary.Invalid(path+".cookie", m.Cookie, "set header or cookie, not both")
	case m.Header == "" && m.Cookie == "":
		return tm, canary.Invalid(path, nil, "set header or cookie")
	}
	kinds := 0
	key := ""
	for _, k := range []struct {
		key, v string
		kind   traffic.MatchKind
	}{{"exact", m.Exact, traffic.Exact}, {"prefix", m.Prefix, traffic.Prefix}, {"regex", m.Regex, traffic.Regex}} {
		if k.v != "" {
			kinds++
			key, tm.Kind, tm.Value = k.key, k.kind, k.v
		}
	}
	if kinds != 1 {
		return tm, canary.Invalid(path, nil, "set exactly one of exact, prefix and regex (%d set)", kinds)
	}
	tm.Header, tm.Cookie = m.Header, m.Cookie
	c, err := traffic.NewCohort(tm)
	if err == nil {
		err = traffic.Split{Stable: 100, Cohort: c}.Validate()
	}
	var fe *canary.FieldError
	if errors.As(err, &fe) {
		f := path + "." + key
		switch {
		case strings.HasSuffix(fe.Field, ".Header"):
			f = path + ".header"
		case strings.HasSuffix(fe.Field, ".Cookie"):
			f = path + ".cookie"
		}
		return tm, &canary.FieldError{Field: f, Value: fe.Value, Reason: fe.Reason}
	}
	return tm, err
}

// policy overlays ro.Policy on base.
func (ro *Rollout) policy(base rollback.Policy) (rollback.Policy, error) {
	p := ro.Policy
	if p == nil {
		return base, nil
	}
	nonNeg := func(field string, v *int, dst *int) error {
		if v == nil {
			return nil
		}
		if *v < 0 {
			return canary.Invalid(field, *v, "must not be negative")
		}
		*dst = *v
		return nil
	}
	if err := nonNeg("policy.failureLimit", p.FailureLimit, &base.FailureLimit); err != nil {
		return base, err
	}
	if err := nonNeg("policy.passesPerStage", p.PassesPerStage, &base.PassesPerStage); err != nil {
		return base, err
	}
	switch p.Counting {
	case "":
	case "cumulative":
		base.Counting = rollback.Cumulative
	case "consecutive":
		base.Counting = rollback.Consecutive
	default:
		return base, canary.Invalid("policy.counting", p.Counting, "must be cumulative or consecutive")
	}
	switch p.NoData {
	case "":
	case "hold":
		base.NoData, base.NoDataAfter = analysis.HoldOnNoData, 0
	case "fail":
		base.NoData, base.NoDataAfter = analysis.FailOnNoData, 0
	case "fail-after":
		base.NoData = analysis.FailAfterNoData
	default:
		return base, canary.Invalid("policy.noData", p.NoData, "must be hold, fail or fail-after")
	}
	if err := nonNeg("policy.noDataAfter", p.NoDataAfter, &base.NoDataAfter); err != nil {
		return base, err
	}
	if base.NoData == analysis.FailAfterNoData && base.NoDataAfter < 1 {
		return base, canary.Invalid("policy.noDataAfter", base.NoDataAfter, "must be at least 1 with noData: fail-after")
	}
	if base.NoData != analysis.FailAfterNoData && p.NoDataAfter != nil && *p.NoDataAfter != 0 {
		return base, canary.Invalid("policy.noDataAfter", *p.NoDataAfter, "is only used with noData: fail-after")
	}
	switch p.OnFailure {
	case "":
	case "rollback":
		base.OnFailure = rollback.RollBackOnFailure
	case "pause":
		base.OnFailure = rollback.PauseOnFailure
	default:
		return base, canary.Invalid("policy.onFailure", p.OnFailure, "must be rollback or pause")
	}
	switch p.OnInconclusive {
	case "":
	case "ask":
		base.OnInconclusive = rollback.AskPerson
	case "rollback":
		base.OnInconclusive = rollback.RollBackInconclusive
	default:
		return base, canary.Invalid("policy.onInconclusive", p.OnInconclusive, "must be ask or rollback")
	}
	return base, nil
}

// rename rewrites a *[canary.FieldError] from rollback or analysis
// ("Plan.Stages[2].Weight", "Threshold.Limits[0].Max") into the file's
// names ("plan.stages[2].weight"), with prefix in front when given.
func rename(err error) error { return renameUnder(err, "", false) }

func renameUnder(err error, prefix string, dropFirst bool) error {
	var fe *canary.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	parts := strings.Split(fe.Field, ".")
	if dropFirst && len(parts) > 1 {
		parts = parts[1:]
	}
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToLower(p[:1]) + p[1:]
		}
	}
	f := strings.Join(parts, ".")
	f = strings.Replace(f, "plan.progressDeadline", "plan.deadline", 1)
	f = strings.Replace(f, "zeroTraffic.testRoute", "zeroTraffic.testHeader", 1)
	f = strings.Replace(f, "plan.aBTest.cohort", "plan.abTest.match", 1)
	f = strings.Replace(f, "plan.aBTest", "plan.abTest", 1)
	f = strings.Replace(f, "blueGreen.preview.name", "blueGreen.preview.header", 1)
	f = strings.Replace(f, "plan.approveIncrease", "plan.gates.beforeIncrease", 1)
	if prefix != "" {
		f = prefix + "." + f
	}
	// The reason may name another field in Go's spelling.
	reason := strings.NewReplacer("StageWeight", "stageWeight", "MaxWeight", "maxWeight", "Plan.Strategy", "plan.strategy",
		"Plan.ABTest", "plan.abTest", "Plan.BlueGreen", "plan.blueGreen", "Plan.ZeroTraffic", "plan.zeroTraffic",
		"Plan.ApprovePromotion", "plan.gates.beforePromotion", "ApprovePromotion", "gates.beforePromotion").Replace(fe.Reason)
	return &canary.FieldError{Field: f, Value: fe.Value, Reason: reason}
}
