package spec_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/spec"
)

// withRouter is the good rollout with its router block replaced by one
// router (key: value) and a Prometheus provider (the httpsplit provider
// measures only the httpsplit router).
func withRouter(t *testing.T, key string, value map[string]any) map[string]any {
	t.Helper()
	m := good(t)
	m["router"] = map[string]any{key: value}
	m["provider"] = map[string]any{"prometheus": map[string]any{"address": "http://127.0.0.1:9090"}}
	return m
}

func goodReplicaRatio() map[string]any {
	return map[string]any{"namespace": "shop", "service": "checkout", "stableDeployment": "checkout-stable",
		"canaryDeployment": "checkout-canary", "replicas": 5}
}

func goodSMI() map[string]any {
	return map[string]any{"namespace": "shop", "trafficSplit": "checkout", "service": "checkout",
		"stableBackend": "checkout-stable", "canaryBackend": "checkout-canary"}
}

func goodALB() map[string]any {
	return map[string]any{"namespace": "shop", "ingress": "checkout", "actionName": "checkout-split",
		"stableService": "checkout-stable", "canaryService": "checkout-canary", "servicePort": 80}
}

func goodGateway() map[string]any {
	return map[string]any{"namespace": "shop", "route": "checkout", "stable": "checkout-stable", "canary": "checkout-canary"}
}

func TestNewRoutersDecodeAndValidate(t *testing.T) {
	for _, tc := range []struct {
		key   string
		value map[string]any
		kind  string
		check func(spec.Routing) bool
	}{
		{"replicaRatio", goodReplicaRatio(), "replicaRatio", func(r spec.Routing) bool {
			return r.ReplicaRatio.Replicas == 5 && r.ReplicaRatio.CanaryDeployment == "checkout-canary"
		}},
		{"smi", goodSMI(), "smi", func(r spec.Routing) bool {
			return r.SMI.TrafficSplit == "checkout" && r.SMI.APIVersion == ""
		}},
		{"alb", goodALB(), "alb", func(r spec.Routing) bool {
			return r.ALB.ServicePort == 80 && r.ALB.ActionName == "checkout-split"
		}},
		{"gatewayapi", func() map[string]any { g := goodGateway(); g["implementation"] = "linkerd"; return g }(), "gatewayapi", func(r spec.Routing) bool {
			return r.GatewayAPI.Implementation == "linkerd"
		}},
		{"gatewayapi", func() map[string]any { g := goodGateway(); g["implementation"] = "vpc-lattice"; return g }(), "gatewayapi", func(r spec.Routing) bool {
			return r.GatewayAPI.Implementation == "vpc-lattice"
		}},
	} {
		t.Run(tc.key, func(t *testing.T) {
			ro, err := decode(t, withRouter(t, tc.key, tc.value))
			if err != nil {
				t.Fatal(err)
			}
			if err := ro.Validate(nil); err != nil {
				t.Fatal(err)
			}
			if got := ro.Router.Kind(); got != tc.kind {
				t.Errorf("Kind() = %q, want %q", got, tc.kind)
			}
			if !tc.check(ro.Router) {
				t.Errorf("decoded router = %+v", ro.Router)
			}
		})
	}
}

func TestNewRoutersNameTheField(t *testing.T) {
	for _, tc := range []struct {
		name  string
		key   string
		value map[string]any
		path  string // the router's field changed (nil deletes)
		v     any
		field string
		why   string
	}{
		{"replicaRatio namespace", "replicaRatio", goodReplicaRatio(), "namespace", nil, "router.replicaRatio.namespace", "required"},
		{"replicaRatio service", "replicaRatio", goodReplicaRatio(), "service", " ", "router.replicaRatio.service", "required"},
		{"replicaRatio stable", "replicaRatio", goodReplicaRatio(), "stableDeployment", nil, "router.replicaRatio.stableDeployment", "required"},
		{"replicaRatio canary", "replicaRatio", goodReplicaRatio(), "canaryDeployment", nil, "router.replicaRatio.canaryDeployment", "required"},
		{"replicaRatio same deployment", "replicaRatio", goodReplicaRatio(), "canaryDeployment", "checkout-stable", "router.replicaRatio.canaryDeployment", "differ"},
		{"replicaRatio replicas missing", "replicaRatio", goodReplicaRatio(), "replicas", nil, "router.replicaRatio.replicas", "at least 1"},
		{"replicaRatio replicas zero", "replicaRatio", goodReplicaRatio(), "replicas", 0, "router.replicaRatio.replicas", "at least 1"},
		{"replicaRatio unknown key", "replicaRatio", goodReplicaRatio(), "replica", 3, "router.replicaRatio.replica", "not a known field"},
		{"smi namespace", "smi", goodSMI(), "namespace", nil, "router.smi.namespace", "required"},
		{"smi trafficSplit", "smi", goodSMI(), "trafficSplit", nil, "router.smi.trafficSplit", "required"},
		{"smi service", "smi", goodSMI(), "service", nil, "router.smi.service", "required"},
		{"smi stableBackend", "smi", goodSMI(), "stableBackend", nil, "router.smi.stableBackend", "required"},
		{"smi canaryBackend", "smi", goodSMI(), "canaryBackend", nil, "router.smi.canaryBackend", "required"},
		{"smi same backend", "smi", goodSMI(), "canaryBackend", "checkout-stable", "router.smi.canaryBackend", "differ"},
		{"smi apiVersion", "smi", goodSMI(), "apiVersion", "v1alpha1", "router.smi.apiVersion", "v1alpha2, v1alpha3, v1alpha4"},
		{"alb namespace", "alb", goodALB(), "namespace", nil, "router.alb.namespace", "required"},
		{"alb ingress", "alb", goodALB(), "ingress", nil, "router.alb.ingress", "required"},
		{"alb actionName", "alb", goodALB(), "actionName", nil, "router.alb.actionName", "required"},
		{"alb stableService", "alb", goodALB(), "stableService", nil, "router.alb.stableService", "required"},
		{"alb canaryService", "alb", goodALB(), "canaryService", nil, "router.alb.canaryService", "required"},
		{"alb same service", "alb", goodALB(), "canaryService", "checkout-stable", "router.alb.canaryService", "differ"},
		{"alb port missing", "alb", goodALB(), "servicePort", nil, "router.alb.servicePort", "1 to 65535"},
		{"alb port too high", "alb", goodALB(), "servicePort", 70000, "router.alb.servicePort", "1 to 65535"},
		{"gateway implementation", "gatewayapi", goodGateway(), "implementation", "nginx", "router.gatewayapi.implementation", "vpc-lattice"},
		// The older routers' checks still run when the implementation is valid.
		{"gateway route with implementation", "gatewayapi", func() map[string]any { g := goodGateway(); g["implementation"] = "linkerd"; return g }(), "route", nil, "router.gatewayapi.route", "required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.value
			if tc.v == nil {
				delete(r, tc.path)
			} else {
				r[tc.path] = tc.v
			}
			ro, err := decode(t, withRouter(t, tc.key, r))
			if err == nil {
				err = ro.Validate(nil)
			}
			var fe *canary.FieldError
			if !errors.As(err, &fe) || !errors.Is(err, canary.ErrInvalid) {
				t.Fatalf("got %v, want a *canary.FieldError", err)
			}
			if fe.Field != tc.field || !strings.Contains(fe.Reason, tc.why) {
				t.Errorf("got field %q reason %q, want field %q reason containing %q", fe.Field, fe.Reason, tc.field, tc.why)
			}
		})
	}
}

func TestRouterCountCoversEveryRouter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		router map[string]any
		want   string
	}{
		{"none", map[string]any{}, "(0 set)"},
		{"new and old", map[string]any{"smi": goodSMI(), "gatewayapi": goodGateway()}, "(2 set)"},
		{"two new", map[string]any{"smi": goodSMI(), "alb": goodALB(), "replicaRatio": goodReplicaRatio()}, "(3 set)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := withRouter(t, "smi", goodSMI())
			m["router"] = tc.router
			ro, err := decode(t, m)
			if err == nil {
				err = ro.Validate(nil)
			}
			var fe *canary.FieldError
			if !errors.As(err, &fe) || fe.Field != "router" || !strings.Contains(fe.Reason, tc.want) ||
				!strings.Contains(fe.Reason, "replicaRatio, smi, alb") {
				t.Fatalf("got %v, want a router error saying %q and naming every router", err, tc.want)
			}
		})
	}
}

// TestIstioLabelValueKey is issue 23 item 5: an Istio destination's pod
// label value is written labelValue; the old key version is still read,
// with a warning, and beside labelValue with another value is an error
// naming both.
func TestIstioLabelValueKey(t *testing.T) {
	istio := func(stable map[string]any) map[string]any {
		return map[string]any{"namespace": "shop", "virtualService": "checkout",
			"stable": stable, "canary": map[string]any{"host": "checkout", "subset": "canary", "labelValue": "v2"}}
	}
	ro, err := decode(t, withRouter(t, "istio", istio(map[string]any{"host": "checkout", "subset": "stable", "labelValue": "v1"})))
	if err != nil || ro.Router.Istio.Stable.LabelValue != "v1" || ro.Router.Istio.Canary.LabelValue != "v2" || len(ro.Warnings()) != 0 {
		t.Fatalf("labelValue: %+v, %v, warnings %q", ro, err, ro.Warnings())
	}
	ro, err = decode(t, withRouter(t, "istio", istio(map[string]any{"host": "checkout", "subset": "stable", "version": "v1"})))
	if err != nil {
		t.Fatal(err)
	}
	if ro.Router.Istio.Stable.LabelValue != "v1" {
		t.Errorf("version read as %+v", ro.Router.Istio.Stable)
	}
	if w := ro.Warnings(); len(w) != 1 || w[0] != "router.istio.stable.version is deprecated; write labelValue (read as router.istio.stable.labelValue)" {
		t.Errorf("warnings %q", w)
	}
	out, _ := json.Marshal(ro)
	if !strings.Contains(string(out), `"labelValue":"v1"`) || strings.Contains(string(out), `"version":"v1"`) {
		t.Errorf("written back as %s; want labelValue", out)
	}
	ro, err = decode(t, withRouter(t, "istio", istio(map[string]any{"host": "checkout", "version": "v1", "labelValue": "v1"})))
	if err != nil {
		t.Fatal(err)
	}
	if w := ro.Warnings(); len(w) != 1 || w[0] != "router.istio.stable.version is deprecated and repeats router.istio.stable.labelValue; drop it" {
		t.Errorf("warnings %q", w)
	}
	_, err = decode(t, withRouter(t, "istio", istio(map[string]any{"host": "checkout", "version": "v1", "labelValue": "v3"})))
	fieldErr(t, err, "router.istio.stable.version", "is the old name of router.istio.stable.labelValue, which is given too with another value; give only labelValue")
}
