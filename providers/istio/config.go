package istio

import (
	"strings"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/traffic"
	"k8s.io/apimachinery/pkg/util/validation"
)

// DefaultClusterDomain is the cluster's DNS domain when
// Config.ClusterDomain is empty.
const DefaultClusterDomain = "cluster.local"

// DefaultVersionLabel is the pod label key of the subsets the router creates
// when Config.VersionLabel is empty.
const DefaultVersionLabel = "version"

// Destination is where one version receives traffic: a host, and in subset
// mode a DestinationRule subset of that host.
type Destination struct {
	// Host is the service host as the VirtualService names it, either a
	// short name ("reviews", read in the VirtualService's namespace) or a
	// full name ("reviews.prod.svc.cluster.local"). Required.
	Host string
	// Subset is the DestinationRule subset of Host; empty in host mode.
	Subset string
	// LabelValue is the value of the version label selecting this version's
	// pods when the router creates the subset (Config.CreateSubsets).
	// Empty means the subset's name.
	LabelValue string
}

func (d Destination) String() string {
	if d.Subset == "" {
		return d.Host
	}
	return d.Host + "/" + d.Subset
}

// Config says which VirtualService route a Router manages and where the two
// versions live.
//
// Subset mode: Stable and Canary share a host and differ by subset (v1, v2
// of a DestinationRule keyed by a version label). Host mode: Stable and
// Canary are two hosts (two Services) and Subset is empty.
type Config struct {
	// Namespace and VirtualService name the networking.istio.io/v1
	// VirtualService. Both required.
	Namespace      string
	VirtualService string
	// Route is the name (spec.http[].name) of the managed HTTP route. Empty
	// means the VirtualService must have exactly one HTTP route besides the
	// test route; several routes then make every call fail with an error
	// naming the field, and nothing is written.
	Route string
	// Stable and Canary are the two versions' destinations. Required.
	Stable, Canary Destination
	// The router names the routes it adds for an A/B cohort and for
	// session affinity Route+"-canary-cohort" and Route+"-canary-session"
	// ("canary-cohort" and "canary-session" when Route is empty).
	//
	// TestRoute is the name of the header-matched route the router adds,
	// immediately before the managed route in spec.http, for zero-traffic
	// test requests ([traffic.Split]'s
	// TestRoute). Empty means Route+"-canary-test", or "canary-test" when
	// Route is empty.
	TestRoute string
	// DestinationRule names the DestinationRule holding the subsets in
	// subset mode. Empty means any DestinationRule of the namespace whose
	// host is the subsets' host.
	DestinationRule string
	// CreateSubsets makes the router create DestinationRule (or add the
	// missing subsets to it) with labels {VersionLabel: LabelValue}. When
	// false the router only checks that the subsets exist. Requires
	// DestinationRule.
	CreateSubsets bool
	// VersionLabel is the label key of created subsets; empty means
	// DefaultVersionLabel.
	VersionLabel string
	// Retries bounds how many times a write is retried, each time after a
	// pause and a fresh read, when another client changed the
	// VirtualService first. Zero means [traffic.DefaultRetries]; it must not
	// be negative.
	Retries int
	// ClusterDomain is the cluster's DNS domain, used to expand a short
	// host name ("reviews") to the name Istio compares
	// ("reviews.<namespace>.svc.<ClusterDomain>"). Empty means
	// DefaultClusterDomain.
	ClusterDomain string
}

func (c Config) testRoute() string {
	switch {
	case c.TestRoute != "":
		return c.TestRoute
	case c.Route != "":
		return c.Route + "-canary-test"
	}
	return "canary-test"
}

// cohortRoute is the name of the route the router adds for an A/B cohort
// (traffic.Split's Cohort), and sessionRoute that of the route that sends
// requests with the affinity cookie to the canary (its Affinity).
func (c Config) cohortRoute() string {
	if c.Route != "" {
		return c.Route + "-canary-cohort"
	}
	return "canary-cohort"
}

func (c Config) sessionRoute() string {
	if c.Route != "" {
		return c.Route + "-canary-session"
	}
	return "canary-session"
}

func (c Config) retries() int {
	if c.Retries == 0 {
		return traffic.DefaultRetries
	}
	return c.Retries
}

func (c Config) versionLabel() string {
	if c.VersionLabel == "" {
		return DefaultVersionLabel
	}
	return c.VersionLabel
}

func (d Destination) labelValue() string {
	if d.LabelValue == "" {
		return d.Subset
	}
	return d.LabelValue
}

// fqdn expands a short host name the way Istio does: a name without dots is
// a Service of the rule's namespace in the cluster's domain.
func (c Config) fqdn(host string) string {
	if !strings.Contains(host, ".") {
		domain := c.ClusterDomain
		if domain == "" {
			domain = DefaultClusterDomain
		}
		return host + "." + c.Namespace + ".svc." + domain
	}
	return host
}

func routeName(field, v string) error {
	if v == "" || len(v) > 253 {
		return canary.Invalid(field, v, "must be 1 to 253 characters")
	}
	for _, c := range v {
		if c <= 0x20 || c == 0x7f {
			return canary.Invalid(field, v, "must not contain spaces or control characters")
		}
	}
	return nil
}

func dnsErr(field, v string, errs []string) error {
	if len(errs) == 0 {
		return nil
	}
	return canary.Invalid(field, v, "%s", strings.Join(errs, "; "))
}

// Validate reports the first bad field of c as a *[canary.FieldError].
func (c Config) Validate() error {
	if c.Namespace == "" {
		return canary.Invalid("Config.Namespace", c.Namespace, "required")
	}
	if err := dnsErr("Config.Namespace", c.Namespace, validation.IsDNS1123Label(c.Namespace)); err != nil {
		return err
	}
	if c.VirtualService == "" {
		return canary.Invalid("Config.VirtualService", c.VirtualService, "required")
	}
	if err := dnsErr("Config.VirtualService", c.VirtualService, validation.IsDNS1123Subdomain(c.VirtualService)); err != nil {
		return err
	}
	if c.Route != "" {
		if err := routeName("Config.Route", c.Route); err != nil {
			return err
		}
	}
	if err := routeName("Config.TestRoute", c.testRoute()); err != nil {
		return err
	}
	if c.testRoute() == c.Route {
		return canary.Invalid("Config.TestRoute", c.TestRoute, "must differ from Config.Route")
	}
	if t := c.testRoute(); t == c.cohortRoute() || t == c.sessionRoute() {
		return canary.Invalid("Config.TestRoute", c.TestRoute, "must differ from the cohort and session routes' names (%q, %q)", c.cohortRoute(), c.sessionRoute())
	}
	for _, d := range []struct {
		name string
		dest Destination
	}{{"Config.Stable", c.Stable}, {"Config.Canary", c.Canary}} {
		if d.dest.Host == "" {
			return canary.Invalid(d.name+".Host", d.dest.Host, "required")
		}
		if err := dnsErr(d.name+".Host", d.dest.Host, validation.IsDNS1123Subdomain(d.dest.Host)); err != nil {
			return err
		}
		if d.dest.Subset != "" {
			if err := dnsErr(d.name+".Subset", d.dest.Subset, validation.IsDNS1123Label(d.dest.Subset)); err != nil {
				return err
			}
		}
		if d.dest.LabelValue != "" {
			if d.dest.Subset == "" {
				return canary.Invalid(d.name+".LabelValue", d.dest.LabelValue, "needs a Subset")
			}
			if err := dnsErr(d.name+".LabelValue", d.dest.LabelValue, validation.IsValidLabelValue(d.dest.LabelValue)); err != nil {
				return err
			}
		}
	}
	if c.ClusterDomain != "" {
		if err := dnsErr("Config.ClusterDomain", c.ClusterDomain, validation.IsDNS1123Subdomain(c.ClusterDomain)); err != nil {
			return err
		}
	}
	sameHost := c.fqdn(c.Stable.Host) == c.fqdn(c.Canary.Host)
	if sameHost && (c.Stable.Subset == "" || c.Canary.Subset == "") {
		return canary.Invalid("Config.Canary.Subset", c.Canary.Subset, "stable and canary share host %q, so both need a subset (subset mode)", c.Stable.Host)
	}
	if sameHost && c.Stable.Subset == c.Canary.Subset {
		return canary.Invalid("Config.Canary", c.Canary.String(), "must differ from Config.Stable")
	}
	if c.DestinationRule != "" {
		if err := dnsErr("Config.DestinationRule", c.DestinationRule, validation.IsDNS1123Subdomain(c.DestinationRule)); err != nil {
			return err
		}
		if c.Stable.Subset != "" && c.Canary.Subset != "" && !sameHost {
			return canary.Invalid("Config.DestinationRule", c.DestinationRule, "one DestinationRule has one host, but the subsets are on %q and %q", c.Stable.Host, c.Canary.Host)
		}
	}
	if c.CreateSubsets {
		if c.DestinationRule == "" {
			return canary.Invalid("Config.DestinationRule", c.DestinationRule, "required when CreateSubsets is set")
		}
		if c.Stable.Subset == "" && c.Canary.Subset == "" {
			return canary.Invalid("Config.CreateSubsets", true, "no destination has a subset")
		}
	}
	if c.VersionLabel != "" {
		if err := dnsErr("Config.VersionLabel", c.VersionLabel, validation.IsQualifiedName(c.VersionLabel)); err != nil {
			return err
		}
	}
	if c.Retries < 0 || c.Retries > 100 {
		return canary.Invalid("Config.Retries", c.Retries, "must be between 0 and 100")
	}
	return nil
}
