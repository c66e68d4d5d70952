package main

import (
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The CRD's schema (deploy/crd.yaml) refuses a bad Rollout at apply: the
// real API server answers 422 Invalid with the field in the message, and
// nothing is stored. A good Rollout is accepted, so the table cannot pass
// by refusing everything.
func TestCRDRefusesBadRollouts(t *testing.T) {
	f := newFixture(t)
	create := func(name string, spec map[string]any) error {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": APIVersion, "kind": Kind,
			"metadata": map[string]any{"name": name, "namespace": f.ns},
			"spec":     spec,
		}}
		_, err := f.dc.Resource(GVR).Namespace(f.ns).Create(f.ctx, u, metav1.CreateOptions{})
		return err
	}
	if err := create("good", rolloutSpec("good")); err != nil {
		t.Fatalf("a good Rollout was refused: %v", err)
	}
	old := rolloutSpec("good-old-steps") // the deprecated name of plan.stages
	p := old["plan"].(map[string]any)
	p["steps"] = p["stages"]
	delete(p, "stages")
	if err := create("good-old-steps", old); err != nil {
		t.Errorf("a Rollout with the deprecated plan.steps was refused: %v", err)
	}
	for name, rt := range map[string]map[string]any{
		"good-smi":           {"kind": "TrafficSplit", "name": "a", "rootService": "a", "stableService": "a-stable", "canaryService": "a-canary", "apiVersion": "v1alpha3"},
		"good-alb":           {"kind": "Ingress", "name": "a", "actionName": "a-split", "stableService": "a", "canaryService": "a-canary", "servicePort": int64(80)},
		"good-replica-ratio": {"kind": "ReplicaRatio", "name": "a", "replicas": int64(5)},
		"good-httproute":     {"kind": "HTTPRoute", "name": "a", "stableService": "a", "canaryService": "a-canary"},
		"good-linkerd":       {"kind": "HTTPRoute", "name": "a", "stableService": "a", "canaryService": "a-canary", "implementation": "linkerd"},
		"good-vpc-lattice":   {"kind": "HTTPRoute", "name": "a", "stableService": "a", "canaryService": "a-canary", "implementation": "vpc-lattice"},
	} {
		s := rolloutSpec(name)
		s["router"] = rt
		if err := create(name, s); err != nil {
			t.Errorf("a good %s Rollout was refused: %v", rt["kind"], err)
		}
	}
	withSignals := rolloutSpec("good-signals")
	withSignals["signals"] = goodSignals()
	if err := create("good-signals", withSignals); err != nil {
		t.Errorf("a Rollout with webhooks and notifications was refused: %v", err)
	}
	router := func(s map[string]any) map[string]any { return s["router"].(map[string]any) }
	signals := func(s map[string]any) map[string]any {
		if s["signals"] == nil {
			s["signals"] = goodSignals()
		}
		return s["signals"].(map[string]any)
	}
	webhook := func(s map[string]any) map[string]any { return signals(s)["webhooks"].([]any)[0].(map[string]any) }
	notification := func(s map[string]any) map[string]any { return signals(s)["notify"].([]any)[0].(map[string]any) }
	plan := func(s map[string]any) map[string]any { return s["plan"].(map[string]any) }
	metric := func(s map[string]any) map[string]any { return s["metrics"].([]any)[0].(map[string]any) }
	for _, c := range []struct {
		name  string
		edit  func(s map[string]any)
		field string // the field the message names
		why   string // a fragment of the message
	}{
		{"unknown-router", func(s map[string]any) { router(s)["kind"] = "Nginx" }, "spec.router.kind", "Unsupported value"},
		{"no-router", func(s map[string]any) { delete(s, "router") }, "spec.router", "Required value"},
		{"router-name", func(s map[string]any) { router(s)["name"] = "Check_Out" }, "spec.router.name", "should match"},
		{"same-service", func(s map[string]any) { router(s)["canaryService"] = router(s)["stableService"] }, "spec.router.canaryService", "must differ from spec.router.stableService"},
		{"same-deployment", func(s map[string]any) { s["canary"] = map[string]any{"deployment": "same-deployment"} }, "spec.canary.deployment", "must differ from spec.stable.deployment"},
		{"bad-deployment", func(s map[string]any) { s["stable"] = map[string]any{"deployment": "Not_A_Name"} }, "spec.stable.deployment", "should match"},
		{"stages-fall", func(s map[string]any) { plan(s)["stages"] = []any{int64(50), int64(20)} }, "spec.plan.stages", "the weights must rise stage by stage"},
		{"stages-repeat", func(s map[string]any) { plan(s)["stages"] = []any{int64(20), int64(20), int64(100)} }, "spec.plan.stages", "the weights must rise stage by stage"},
		{"stage-zero", func(s map[string]any) { plan(s)["stages"] = []any{int64(0), int64(100)} }, "spec.plan.stages[0]", "greater than or equal to 1"},
		{"stage-above-100", func(s map[string]any) { plan(s)["stages"] = []any{int64(50), int64(150)} }, "spec.plan.stages[1]", "less than or equal to 100"},
		{"no-stages", func(s map[string]any) { plan(s)["stages"] = []any{} }, "spec.plan.stages", "at least 1 items"},
		{"stages-missing", func(s map[string]any) { delete(plan(s), "stages") }, "spec.plan.stages", "stages is required"},
		{"stages-and-steps", func(s map[string]any) { plan(s)["steps"] = plan(s)["stages"] }, "spec.plan.steps", "give stages or the deprecated steps, not both"},
		{"old-steps-fall", func(s map[string]any) {
			plan(s)["steps"] = []any{int64(50), int64(20)}
			delete(plan(s), "stages")
		}, "spec.plan.steps", "the weights must rise stage by stage"},
		{"bad-interval", func(s map[string]any) { plan(s)["interval"] = "soon" }, "spec.plan.interval", "should match"},
		{"no-interval", func(s map[string]any) { delete(plan(s), "interval") }, "spec.plan.interval", "Required value"},
		{"bad-hold", func(s map[string]any) { plan(s)["hold"] = "-1s" }, "spec.plan.hold", "should match"},
		{"bad-role", func(s map[string]any) { metric(s)["role"] = "speed" }, "spec.metrics[0].role", "Unsupported value"},
		{"bad-window", func(s map[string]any) { metric(s)["window"] = "1 minute" }, "spec.metrics[0].window", "should match"},
		{"no-error-rate", func(s map[string]any) { metric(s)["role"] = "latency" }, "spec.metrics", "must have a metric with role errorRate"},
		{"same-metric-twice", func(s map[string]any) { s["metrics"] = append(s["metrics"].([]any), metric(s)) }, "spec.metrics[1]", "Duplicate value"},
		{"too-many-metrics", func(s map[string]any) {
			var ms []any
			for i := range 11 {
				ms = append(ms, map[string]any{"name": "m" + string(rune('a'+i)), "role": "errorRate", "query": errorRateQuery})
			}
			s["metrics"] = ms
		}, "spec.metrics", "must have at most 10 items"},
		{"bad-preset", func(s map[string]any) { s["preset"] = "yolo" }, "spec.preset", "Unsupported value"},
		{"smi-no-root", func(s map[string]any) {
			s["router"] = map[string]any{"kind": "TrafficSplit", "name": "a", "stableService": "a", "canaryService": "a-canary"}
		}, "spec.router.rootService", "rootService is required for kind TrafficSplit"},
		{"smi-version", func(s map[string]any) {
			s["router"] = map[string]any{"kind": "TrafficSplit", "name": "a", "rootService": "a", "stableService": "a-stable", "canaryService": "a-canary", "apiVersion": "v1alpha1"}
		}, "spec.router.apiVersion", "Unsupported value"},
		{"alb-no-action", func(s map[string]any) {
			s["router"] = map[string]any{"kind": "Ingress", "name": "a", "stableService": "a", "canaryService": "a-canary", "servicePort": int64(80)}
		}, "spec.router.actionName", "required for kind Ingress"},
		{"alb-port", func(s map[string]any) {
			s["router"] = map[string]any{"kind": "Ingress", "name": "a", "actionName": "a-split", "stableService": "a", "canaryService": "a-canary", "servicePort": int64(70000)}
		}, "spec.router.servicePort", "less than or equal to 65535"},
		{"replicas-elsewhere", func(s map[string]any) { router(s)["replicas"] = int64(3) }, "spec.router.replicas", "only for kind ReplicaRatio"},
		{"replica-ratio-services", func(s map[string]any) {
			s["router"] = map[string]any{"kind": "ReplicaRatio", "name": "a", "stableService": "a"}
		}, "spec.router.stableService", "not used by kind ReplicaRatio"},
		{"replica-ratio-zero", func(s map[string]any) {
			s["router"] = map[string]any{"kind": "ReplicaRatio", "name": "a", "replicas": int64(0)}
		}, "spec.router.replicas", "greater than or equal to 1"},
		{"unknown-implementation", func(s map[string]any) {
			s["router"] = map[string]any{"kind": "HTTPRoute", "name": "a", "stableService": "a", "canaryService": "a-canary", "implementation": "istio"}
		}, "spec.router.implementation", "Unsupported value"},
		{"implementation-elsewhere", func(s map[string]any) { router(s)["implementation"] = "linkerd" }, "spec.router.implementation", "only for kind HTTPRoute"},
		{"missing-services", func(s map[string]any) { delete(router(s), "canaryService") }, "spec.router.stableService", "stableService and canaryService are required"},
		{"bad-webhook-type", func(s map[string]any) { webhook(s)["type"] = "pre-flight" }, "spec.signals.webhooks[0].type", "Unsupported value"},
		{"rollback-webhook", func(s map[string]any) { webhook(s)["type"] = "rollback" }, "spec.signals.webhooks[0].type", "Unsupported value"},
		{"webhook-not-http", func(s map[string]any) { webhook(s)["url"] = "ftp://hooks.example/x" }, "spec.signals.webhooks[0].url", "should match"},
		{"webhook-retries", func(s map[string]any) { webhook(s)["retries"] = int64(11) }, "spec.signals.webhooks[0].retries", "less than or equal to 10"},
		{"webhook-metadata-twice", func(s map[string]any) {
			webhook(s)["secretMetadata"] = map[string]any{"cmd": map[string]any{"name": "hooks", "key": "cmd"}}
		}, "spec.signals.webhooks[0].secretMetadata", "in both metadata and secretMetadata"},
		{"webhook-name-twice", func(s map[string]any) {
			sig := signals(s)
			sig["webhooks"] = append(sig["webhooks"].([]any), webhook(s))
		}, "spec.signals.webhooks[2]", "Duplicate value"},
		{"notify-kind", func(s map[string]any) { notification(s)["kind"] = "email" }, "spec.signals.notify[0].kind", "Unsupported value"},
		{"notify-unsigned", func(s map[string]any) { delete(notification(s), "keySecretRef") }, "spec.signals.notify[0].keySecretRef", "required for kind webhook"},
		{"notify-slack-key", func(s map[string]any) { notification(s)["kind"] = "slack" }, "spec.signals.notify[0].keySecretRef", "only for it"},
		{"notify-no-url", func(s map[string]any) { delete(notification(s), "urlSecretRef") }, "spec.signals.notify[0].urlSecretRef", "Required value"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := rolloutSpec(c.name)
			c.edit(s)
			err := create(c.name, s)
			if !apierrors.IsInvalid(err) {
				t.Fatalf("got %v, want 422 Invalid", err)
			}
			if msg := err.Error(); !strings.Contains(msg, c.field+":") || !strings.Contains(msg, c.why) {
				t.Errorf("the refusal does not name %s with %q:\n%s", c.field, c.why, msg)
			}
			if _, err := f.dc.Resource(GVR).Namespace(f.ns).Get(f.ctx, c.name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("the refused Rollout was stored (get: %v)", err)
			}
		})
	}
}

// goodSignals is a spec.signals the CRD accepts: every field in use.
func goodSignals() map[string]any {
	ref := func(key string) map[string]any { return map[string]any{"name": "hooks", "key": key} }
	return map[string]any{
		"report": "https://reports.example/shop",
		"webhooks": []any{
			map[string]any{"name": "load", "type": "rollout", "url": "http://loadtester.test/", "timeout": "5s", "retries": int64(2),
				"metadata": map[string]any{"cmd": "hey -z 1m http://shop-canary/"}, "secretMetadata": map[string]any{"token": ref("token")}},
			map[string]any{"name": "ship-it", "type": "confirm-promotion", "url": "https://gate.example/approve"},
		},
		"notify": []any{
			map[string]any{"kind": "webhook", "urlSecretRef": ref("url"), "keySecretRef": ref("hmac")},
			map[string]any{"kind": "slack", "urlSecretRef": ref("slack")},
		},
	}
}
