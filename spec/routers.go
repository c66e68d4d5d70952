package spec

import (
	"slices"
	"strings"

	"github.com/meshcanary/canary"
)

// routerKeys are the router block's keys, in the order the file format
// documents them.
var routerKeys = []string{"httpsplit", "istio", "gatewayapi", "appmesh", "replicaRatio", "smi", "alb"}

// SMIAPIVersions are the TrafficSplit API versions the smi router writes
// (split.smi-spec.io): the ones Open Service Mesh and Linkerd's SMI
// extension serve.
var SMIAPIVersions = []string{"v1alpha2", "v1alpha3", "v1alpha4"}

// GatewayImplementations are the values of gatewayapi.implementation:
// "" is a generic implementation.
var GatewayImplementations = []string{"", "linkerd", "vpc-lattice"}

// count is how many of the router block's fields are set.
func (r Routing) count() int {
	n := 0
	for _, set := range []bool{r.HTTPSplit != nil, r.Istio != nil, r.GatewayAPI != nil, r.AppMesh != nil,
		r.ReplicaRatio != nil, r.SMI != nil, r.ALB != nil} {
		if set {
			n++
		}
	}
	return n
}

// validateRouters checks what validateRouter's older switch does not
// know: the count over every router, the routers replicaRatio, smi and
// alb, and gatewayapi.implementation. handled is false when the older
// switch is to check the (single, older) router that is set.
func (r Routing) validateRouters() (handled bool, err error) {
	if n := r.count(); n != 1 {
		return true, canary.Invalid("router", nil, "must set exactly one of %s (%d set)", strings.Join(routerKeys, ", "), n)
	}
	switch {
	case r.ReplicaRatio != nil:
		return true, r.ReplicaRatio.validate()
	case r.SMI != nil:
		return true, r.SMI.validate()
	case r.ALB != nil:
		return true, r.ALB.validate()
	case r.GatewayAPI != nil:
		if g := r.GatewayAPI; !slices.Contains(GatewayImplementations, g.Implementation) {
			return true, canary.Invalid("router.gatewayapi.implementation", g.Implementation, `must be "" (generic), "linkerd" or "vpc-lattice"`)
		}
	}
	return false, nil
}

func (r *ReplicaRatio) validate() error {
	if err := required("router.replicaRatio.", [][2]string{{"namespace", r.Namespace}, {"service", r.Service},
		{"stableDeployment", r.StableDeployment}, {"canaryDeployment", r.CanaryDeployment}}); err != nil {
		return err
	}
	if r.StableDeployment == r.CanaryDeployment {
		return canary.Invalid("router.replicaRatio.canaryDeployment", r.CanaryDeployment, "must differ from stableDeployment")
	}
	if r.Replicas < 1 {
		return canary.Invalid("router.replicaRatio.replicas", r.Replicas, "must be at least 1 (the pods shared by both versions)")
	}
	return nil
}

func (s *SMI) validate() error {
	if err := required("router.smi.", [][2]string{{"namespace", s.Namespace}, {"trafficSplit", s.TrafficSplit},
		{"service", s.Service}, {"stableBackend", s.StableBackend}, {"canaryBackend", s.CanaryBackend}}); err != nil {
		return err
	}
	if s.StableBackend == s.CanaryBackend {
		return canary.Invalid("router.smi.canaryBackend", s.CanaryBackend, "must differ from stableBackend")
	}
	if s.APIVersion != "" && !slices.Contains(SMIAPIVersions, s.APIVersion) {
		return canary.Invalid("router.smi.apiVersion", s.APIVersion, "must be one of %s (empty is v1alpha2)", strings.Join(SMIAPIVersions, ", "))
	}
	return nil
}

func (a *ALB) validate() error {
	if err := required("router.alb.", [][2]string{{"namespace", a.Namespace}, {"ingress", a.Ingress},
		{"actionName", a.ActionName}, {"stableService", a.StableService}, {"canaryService", a.CanaryService}}); err != nil {
		return err
	}
	if a.StableService == a.CanaryService {
		return canary.Invalid("router.alb.canaryService", a.CanaryService, "must differ from stableService")
	}
	if a.ServicePort < 1 || a.ServicePort > 65535 {
		return canary.Invalid("router.alb.servicePort", a.ServicePort, "must be a port number, 1 to 65535")
	}
	return nil
}

// required returns a *canary.FieldError for the first field whose value
// is blank; the fields are named prefix+name.
func required(prefix string, fields [][2]string) error {
	for _, f := range fields {
		if strings.TrimSpace(f[1]) == "" {
			return canary.Invalid(prefix+f[0], nil, "is required")
		}
	}
	return nil
}
