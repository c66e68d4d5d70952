package kubernetes_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/internal/kubetest"
	"github.com/meshcanary/canary/providers/kubernetes"
	"github.com/meshcanary/canary/traffic"
	"github.com/meshcanary/canary/traffic/traffictest"
)

// allStableAction is the action annotation with every request on the
// stable Service, in the layout of the controller's documentation.
const allStableAction = `{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"cart","servicePort":80,"weight":100},{"serviceName":"cart-canary","servicePort":80,"weight":0}],"targetGroupStickinessConfig":{"enabled":true,"durationSeconds":60}}}`

// albIngress has the action "weighted" on /api, a plain Service on
// /static, and annotations the controller and other tools own.
func albIngress(ns, name string) *networkingv1.Ingress {
	prefix := networkingv1.PathTypePrefix
	class := "alb"
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: map[string]string{
			"alb.ingress.kubernetes.io/scheme":            "internet-facing",
			"alb.ingress.kubernetes.io/actions.weighted":  allStableAction,
			"alb.ingress.kubernetes.io/actions.maintain":  `{"type":"fixed-response","fixedResponseConfig":{"contentType":"text/plain","statusCode":"503"}}`,
			"alb.ingress.kubernetes.io/conditions.static": `[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"x-a","values":["1"]}}]`,
		}},
		Spec: networkingv1.IngressSpec{
			IngressClassName: &class,
			Rules: []networkingv1.IngressRule{{Host: "shop.example", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
				{Path: "/api", PathType: &prefix, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: "weighted", Port: networkingv1.ServiceBackendPort{Name: "use-annotation"}}}},
				{Path: "/static", PathType: &prefix, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: "assets", Port: networkingv1.ServiceBackendPort{Number: 80}}}},
			}}}}},
		},
	}
}

func albConfig(ns, name string) kubernetes.ALBConfig {
	return kubernetes.ALBConfig{Namespace: ns, Ingress: name, Action: "weighted", Stable: "cart", Canary: "cart-canary", ServicePort: 80}
}

func TestALBConformance(t *testing.T) {
	env := kubetest.Env(t)
	ns := env.Namespace(t)
	kc := env.Kube(t)
	var n atomic.Int32
	type entry struct {
		*kubernetes.ALB
		name    string
		counter *kubetest.Counter
	}
	traffictest.Run(t, traffictest.Harness{
		New: func(ctx context.Context, t *testing.T) (traffic.Driver, traffic.Config) {
			name := fmt.Sprintf("shop-%d", n.Add(1))
			if _, err := kc.NetworkingV1().Ingresses(ns).Create(ctx, albIngress(ns, name), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			cfg, counter := env.CountingConfig()
			client, err := k8s.NewForConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			d, err := kubernetes.NewALBDriver(client, albConfig(ns, name))
			if err != nil {
				t.Fatal(err)
			}
			return entry{d, name, counter}, d.RouterConfig()
		},
		Delete: func(ctx context.Context, t *testing.T, d traffic.Driver) {
			e := d.(entry)
			if err := kc.NetworkingV1().Ingresses(ns).Delete(ctx, e.name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		},
		Break: func(ctx context.Context, t *testing.T, d traffic.Driver) any {
			e := d.(entry)
			e.counter.Deny(true)
			return new(*apierrors.StatusError)
		},
		NoMirror:    true,
		NoTestRoute: true,
	})
}

// A rollout and its rollback leave the Ingress exactly as it was (the
// action's text included), touch only the action, send one PATCH for the
// rollback, and name the field manager meshcanary.
func TestALBRollbackRestores(t *testing.T) {
	env := kubetest.Env(t)
	ns := env.Namespace(t)
	kc := env.Kube(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	before, err := kc.NetworkingV1().Ingresses(ns).Create(ctx, albIngress(ns, "shop"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, counter := env.CountingConfig()
	client, err := k8s.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := kubernetes.NewALB(client, albConfig(ns, "shop"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetSplit(ctx, traffic.Weighted(25)); err != nil {
		t.Fatal(err)
	}
	mid, err := kc.NetworkingV1().Ingresses(ns).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(strings.Replace(allStableAction, `"weight":100`, `"weight":75`, 1), `"weight":0`, `"weight":25`, 1)
	if got := mid.Annotations["alb.ingress.kubernetes.io/actions.weighted"]; got != want {
		t.Errorf("action at 25 %%:\n got %s\nwant %s", got, want)
	}
	for k, v := range before.Annotations {
		if k != "alb.ingress.kubernetes.io/actions.weighted" && mid.Annotations[k] != v {
			t.Errorf("annotation %s changed: %q → %q", k, v, mid.Annotations[k])
		}
	}
	counter.Reset()
	if err := r.SetSplit(ctx, traffic.AllStable()); err != nil {
		t.Fatal(err)
	}
	if got := counter.Counts(); got["PATCH"] != 1 || counter.Total() != 1 {
		t.Errorf("rollback sent %v, want exactly 1 PATCH", got)
	}
	after, err := kc.NetworkingV1().Ingresses(ns).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before.Annotations, after.Annotations) || !reflect.DeepEqual(before.Spec, after.Spec) {
		t.Errorf("rollback did not restore the Ingress:\nbefore %v %+v\nafter  %v %+v", before.Annotations, before.Spec, after.Annotations, after.Spec)
	}
	if !managedBy(after.ManagedFields, canary.FieldManager) {
		t.Errorf("no managed-fields entry of %q", canary.FieldManager)
	}
}

// An Ingress without the action annotation gets one written by SetSplit.
func TestALBWritesMissingAction(t *testing.T) {
	env := kubetest.Env(t)
	ns := env.Namespace(t)
	kc := env.Kube(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	ing := albIngress(ns, "shop")
	ing.Annotations = nil
	if _, err := kc.NetworkingV1().Ingresses(ns).Create(ctx, ing, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r, err := kubernetes.NewALB(kc, albConfig(ns, "shop"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Split(ctx); err == nil {
		t.Fatal("Split of an Ingress without the action: nil error")
	}
	if err := r.SetSplit(ctx, traffic.Weighted(10)); err != nil {
		t.Fatal(err)
	}
	got, err := kc.NetworkingV1().Ingresses(ns).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"cart","servicePort":80,"weight":90},{"serviceName":"cart-canary","servicePort":80,"weight":10}]}}`
	if a := got.Annotations["alb.ingress.kubernetes.io/actions.weighted"]; a != want {
		t.Errorf("action written:\n got %s\nwant %s", a, want)
	}
}

// What the controller's schema or the router cannot take is refused with
// the field, before any write.
func TestALBRefusals(t *testing.T) {
	env := kubetest.Env(t)
	ns := env.Namespace(t)
	kc := env.Kube(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	const key = "alb.ingress.kubernetes.io/actions.weighted"
	for i, c := range []struct {
		mod    func(*networkingv1.Ingress)
		field  string
		reason string
	}{
		{func(i *networkingv1.Ingress) {
			i.Annotations[key] = strings.Replace(allStableAction, `"weight":0`, `"weight":0,"wieght":5`, 1)
		}, "actions.weighted]", "unknown field"},
		{func(i *networkingv1.Ingress) {
			i.Annotations[key] = `{"type":"fixed-response","fixedResponseConfig":{"statusCode":"503"}}`
		}, "actions.weighted]", `"forward"`},
		{func(i *networkingv1.Ingress) {
			i.Annotations[key] = strings.Replace(allStableAction, `"weight":100`, `"weight":1000`, 1)
		}, "targetGroups[0].weight", "0 to 999"},
		{func(i *networkingv1.Ingress) {
			i.Annotations[key] = strings.Replace(allStableAction, `]`, `,{"serviceName":"cart-old","servicePort":80,"weight":5}]`, 1)
		}, "targetGroups[2]", "third target group"},
		{func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port = networkingv1.ServiceBackendPort{Number: 80}
		}, "spec.rules", "use-annotation"},
	} {
		name := fmt.Sprintf("bad-%d", i)
		ing := albIngress(ns, name)
		c.mod(ing)
		before, err := kc.NetworkingV1().Ingresses(ns).Create(ctx, ing, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := kubernetes.NewALB(kc, albConfig(ns, name))
		if err != nil {
			t.Fatal(err)
		}
		err = r.SetSplit(ctx, traffic.Weighted(10))
		var fe *canary.FieldError
		if !errors.As(err, &fe) || !strings.HasSuffix(fe.Field, c.field) || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s: SetSplit = %v, want a FieldError on …%s saying %s", name, err, c.field, c.reason)
		}
		after, err := kc.NetworkingV1().Ingresses(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if after.ResourceVersion != before.ResourceVersion {
			t.Errorf("%s: the Ingress was written despite the refusal", name)
		}
	}
}

func TestNewALBRefusesBadConfig(t *testing.T) {
	kc := k8s.New(nil)
	good := albConfig("shop", "shop")
	for field, mod := range map[string]func(*kubernetes.ALBConfig){
		"Config.Ingress":     func(c *kubernetes.ALBConfig) { c.Ingress = "" },
		"Config.Action":      func(c *kubernetes.ALBConfig) { c.Action = "a/b" },
		"Config.Canary":      func(c *kubernetes.ALBConfig) { c.Canary = c.Stable },
		"Config.ServicePort": func(c *kubernetes.ALBConfig) { c.ServicePort = 0 },
	} {
		c := good
		mod(&c)
		_, err := kubernetes.NewALB(kc, c)
		var fe *canary.FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: err = %v, want a FieldError on %s", field, err, field)
		}
	}
	if _, err := kubernetes.NewALB(kc, good); err != nil {
		t.Errorf("good config: %v", err)
	}
}
