package gatewayapi_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/providers/gatewayapi"
	"github.com/meshcanary/canary/traffic"
	"github.com/meshcanary/canary/traffic/traffictest"
)

// linkerdRoute is sampleRoute as Linkerd 2.14+ reads it: its parent is
// the Service cart (GAMMA), not a Gateway.
func linkerdRoute(ns, name string) *gatewayv1.HTTPRoute {
	r := sampleRoute(ns, name)
	port := gatewayv1.PortNumber(8080)
	r.Spec.ParentRefs = []gatewayv1.ParentReference{{Group: ptr(gatewayv1.Group("core")), Kind: ptr(gatewayv1.Kind("Service")), Name: "cart", Port: &port}}
	r.Spec.Hostnames = nil
	return r
}

// latticeRoute is sampleRoute attached to a Gateway of the
// amazon-vpc-lattice class, on its http listener.
func latticeRoute(ns, name string) *gatewayv1.HTTPRoute {
	r := sampleRoute(ns, name)
	r.Spec.ParentRefs = []gatewayv1.ParentReference{{Name: "my-hotel", SectionName: ptr(gatewayv1.SectionName("http"))}}
	return r
}

func TestImplementationConformance(t *testing.T) {
	for _, c := range []struct {
		impl  string
		route func(ns, name string) *gatewayv1.HTTPRoute
		feat  traffic.Features
	}{
		{gatewayapi.Linkerd, linkerdRoute, traffic.Features{HeaderMatch: true, RegexMatch: true, CookieMatch: true}},
		{gatewayapi.VPCLattice, latticeRoute, traffic.Features{HeaderMatch: true}},
	} {
		t.Run(c.impl, func(t *testing.T) {
			f := newFixture(t)
			var n atomic.Int32
			type entry struct {
				*gatewayapi.Driver
				name    string
				counter interface{ Deny(bool) }
			}
			traffictest.Run(t, traffictest.Harness{
				New: func(ctx context.Context, t *testing.T) (traffic.Driver, traffic.Config) {
					name := fmt.Sprintf("cart-%d", n.Add(1))
					f.create(ctx, t, c.route(f.ns, name))
					cfg, counter := f.env.CountingConfig()
					client, err := versioned.NewForConfig(cfg)
					if err != nil {
						t.Fatal(err)
					}
					conf := apiConfig
					conf.Namespace, conf.Route, conf.Implementation = f.ns, name, c.impl
					d, err := gatewayapi.NewDriver(client, conf)
					if err != nil {
						t.Fatal(err)
					}
					return entry{d, name, counter}, d.RouterConfig()
				},
				Delete: func(ctx context.Context, t *testing.T, d traffic.Driver) {
					e := d.(entry)
					if err := f.admin.GatewayV1().HTTPRoutes(f.ns).Delete(ctx, e.name, metav1.DeleteOptions{}); err != nil {
						t.Fatal(err)
					}
				},
				Break: func(ctx context.Context, t *testing.T, d traffic.Driver) any {
					e := d.(entry)
					e.counter.Deny(true)
					return new(*apierrors.StatusError)
				},
				NoMirror: true, // neither mirrors from an HTTPRoute
				Features: &c.feat,
			})
		})
	}
}

// A route the implementation would not read as meant is refused with the
// field, before anything is written.
func TestImplementationRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	tooManyHeaders := func(ns, name string) *gatewayv1.HTTPRoute {
		r := latticeRoute(ns, name)
		for h := range 5 {
			r.Spec.Rules[0].Matches[0].Headers = append(r.Spec.Rules[0].Matches[0].Headers,
				gatewayv1.HTTPHeaderMatch{Name: gatewayv1.HTTPHeaderName(fmt.Sprintf("x-h%d", h)), Value: "1"})
		}
		return r
	}
	test := traffic.Split{Stable: 90, Canary: 10, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "1"}}
	for i, c := range []struct {
		impl   string
		route  func(ns, name string) *gatewayv1.HTTPRoute
		split  traffic.Split
		field  string
		reason string
	}{
		{gatewayapi.Linkerd, sampleRoute, traffic.Weighted(10), "spec.parentRefs[0]", "parents are Services"},
		{gatewayapi.VPCLattice, linkerdRoute, traffic.Weighted(10), "spec.parentRefs[0]", "attaches an HTTPRoute to a Gateway"},
		{gatewayapi.VPCLattice, func(ns, name string) *gatewayv1.HTTPRoute {
			r := latticeRoute(ns, name)
			r.Spec.Rules[0].Matches[0].QueryParams = []gatewayv1.HTTPQueryParamMatch{{Name: "v", Value: "2"}}
			return r
		}, traffic.Weighted(10), "spec.rules[0].matches[0].queryParams", "query parameters"},
		{gatewayapi.VPCLattice, tooManyHeaders, test, "spec.rules[0].matches[0].headers", "at most 5 header matches"},
		{gatewayapi.Linkerd, linkerdRoute, traffic.Split{Stable: 100, Mirror: 10}, "Split.Mirror", "Linkerd does not mirror"},
		{gatewayapi.VPCLattice, latticeRoute, traffic.Split{Stable: 100, Mirror: 10}, "Split.Mirror", "VPC Lattice"},
	} {
		name := fmt.Sprintf("bad-%d", i)
		before := f.create(ctx, t, c.route(f.ns, name))
		conf := apiConfig
		conf.Implementation = c.impl
		r := f.router(t, name, conf)
		err := r.SetSplit(ctx, c.split)
		var fe *canary.FieldError
		if !errors.As(err, &fe) || !strings.HasSuffix(fe.Field, c.field) || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s (%s): SetSplit = %v, want a FieldError on …%s saying %q", name, c.impl, err, c.field, c.reason)
		}
		if after := f.get(ctx, t, name); after.ResourceVersion != before.ResourceVersion {
			t.Errorf("%s: the route was written despite the refusal", name)
		}
	}
	// Four header matches leave room for the test header on VPC Lattice.
	r4 := latticeRoute(f.ns, "four")
	for h := range 4 {
		r4.Spec.Rules[0].Matches[0].Headers = append(r4.Spec.Rules[0].Matches[0].Headers,
			gatewayv1.HTTPHeaderMatch{Name: gatewayv1.HTTPHeaderName(fmt.Sprintf("x-h%d", h)), Value: "1"})
	}
	f.create(ctx, t, r4)
	conf := apiConfig
	conf.Implementation = gatewayapi.VPCLattice
	if err := f.router(t, "four", conf).SetSplit(ctx, test); err != nil {
		t.Errorf("VPC Lattice route with 4 header matches and a test route: %v", err)
	}
}

// The Linkerd route's rollback restores the exact previous spec, and the
// field manager is meshcanary.
func TestLinkerdRollbackRestores(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	before := f.create(ctx, t, linkerdRoute(f.ns, "cart"))
	conf := apiConfig
	conf.Implementation = gatewayapi.Linkerd
	r := f.router(t, "cart", conf)
	if err := r.SetSplit(ctx, traffic.Split{Stable: 80, Canary: 20, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "1"}}); err != nil {
		t.Fatal(err)
	}
	if err := r.SetSplit(ctx, traffic.AllStable()); err != nil {
		t.Fatal(err)
	}
	if err := r.Release(ctx); err != nil {
		t.Fatal(err)
	}
	after := f.get(ctx, t, "cart")
	// The canary's weight was 0 and the stable's unset (1, the API's
	// default); after the rollback they are 0 and 100: the same split.
	b, a := before.Spec.DeepCopy(), after.Spec.DeepCopy()
	b.Rules[0].BackendRefs[0].Weight, a.Rules[0].BackendRefs[0].Weight = nil, nil
	if !reflect.DeepEqual(b, a) {
		t.Errorf("rollback did not restore the route:\nbefore %+v\nafter  %+v", b, a)
	}
	found := false
	for _, m := range after.ManagedFields {
		found = found || m.Manager == canary.FieldManager
	}
	if !found {
		t.Errorf("no managed-fields entry of %q", canary.FieldManager)
	}
}

func TestNewRefusesUnknownImplementation(t *testing.T) {
	f := newFixture(t)
	conf := apiConfig
	conf.Namespace, conf.Route, conf.Implementation = f.ns, "cart", "istio"
	_, err := gatewayapi.New(f.client, conf)
	var fe *canary.FieldError
	if !errors.As(err, &fe) || fe.Field != "Config.Implementation" {
		t.Errorf("New with implementation istio = %v, want a FieldError on Config.Implementation", err)
	}
}
