package httpsplit

import "github.com/meshcanary/canary/traffic"

// RouteDriver returns the proxy's route driver and the Config New builds
// Proxy.Router with, for the conformance suite, which builds its own
// traffic.Router over them.
func (p *Proxy) RouteDriver() (traffic.Driver, traffic.Config) {
	return routeDriver{p}, routeConfig
}
