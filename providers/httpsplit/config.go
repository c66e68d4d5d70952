package httpsplit

import (
	"log"
	"net/http"
	"net/url"
	"time"

	"github.com/meshcanary/canary"
)

// Defaults and limits of Config.
const (
	DefaultRetention         = 10 * time.Minute
	MaxRetention             = time.Hour
	DefaultLatencySamples    = 4096
	MaxLatencySamples        = 1 << 20
	DefaultMirrorConcurrency = 16
	DefaultMirrorMaxBody     = 64 << 10
	DefaultMirrorTimeout     = 10 * time.Second
	// DefaultUpstreamTimeout is Envoy's default route timeout.
	DefaultUpstreamTimeout = 15 * time.Second
)

// Config configures a Proxy. Only Stable and Canary are required; every
// other zero value means the documented default.
type Config struct {
	// Stable and Canary are the base URLs of the two versions: absolute
	// http or https URLs with a host. A path in them is joined in front of
	// the request's path, as httputil.ProxyRequest.SetURL does. Required.
	Stable, Canary *url.URL

	// Now stamps every request for the metrics (its start and its end).
	// Nil means time.Now. Tests inject a manual clock.
	Now func() time.Time

	// Transport carries the proxied and the mirrored requests. Nil means a
	// clone of http.DefaultTransport keeping up to 64 idle connections per
	// back end; Close closes that transport's idle connections.
	Transport http.RoundTripper

	// Retention is how far back the metrics reach: queries may ask for
	// windows up to this long. Whole seconds from 1s to MaxRetention (1 h);
	// a fraction of a second is rounded up. Zero means DefaultRetention
	// (10 min). See the package doc for the memory this costs.
	Retention time.Duration

	// LatencySamples is how many per-request latencies are kept per version
	// for Result.Samples of latency queries (the most recent ones). Zero
	// means DefaultLatencySamples (4096); at most MaxLatencySamples.
	LatencySamples int

	// MirrorConcurrency is the most mirrored requests in flight at once;
	// a mirror that would exceed it is dropped (counted in Stats). Zero
	// means DefaultMirrorConcurrency (16).
	MirrorConcurrency int

	// MirrorMaxBody is the largest request body, in bytes, that is copied
	// for a mirror; requests with a larger body are not mirrored. Zero
	// means DefaultMirrorMaxBody (64 KiB).
	MirrorMaxBody int64

	// MirrorTimeout bounds each mirrored request. Zero means
	// DefaultMirrorTimeout (10 s).
	MirrorTimeout time.Duration

	// UpstreamTimeout bounds each proxied request, from the moment the
	// proxy receives it until the back end's response has been copied to
	// the client. When it expires before the response has begun, the proxy
	// answers 504 Gateway Timeout; when the response had begun, the
	// response is aborted. Either way the request is measured as a server
	// error of the version that was too slow, as Envoy reports an expired
	// route timeout ("upstream request timeout", 504): a version that never
	// answers is failing, not healthy. A request whose client gives up
	// first (before the whole response was written) is measured as an
	// error of the version that held it too, whatever this timeout.
	// Zero means DefaultUpstreamTimeout (15 s, Envoy's default); a negative
	// value means no timeout (then a back end that never answers is
	// measured when its client goes away, as an error).
	UpstreamTimeout time.Duration

	// ErrorLog receives one line per failed proxied request (back end
	// unreachable, response aborted). Nil discards them; they are still
	// measured as 502 responses of the version that failed.
	ErrorLog *log.Logger
}

// normalize validates c and returns it with the defaults filled in.
func (c Config) normalize() (Config, error) {
	if err := checkURL("Config.Stable", c.Stable); err != nil {
		return c, err
	}
	if err := checkURL("Config.Canary", c.Canary); err != nil {
		return c, err
	}
	switch {
	case c.Retention < 0 || c.Retention > MaxRetention:
		return c, canary.Invalid("Config.Retention", c.Retention, "must be between 1s and %v (zero means %v)", MaxRetention, DefaultRetention)
	case c.LatencySamples < 0 || c.LatencySamples > MaxLatencySamples:
		return c, canary.Invalid("Config.LatencySamples", c.LatencySamples, "must be between 1 and %d (zero means %d)", MaxLatencySamples, DefaultLatencySamples)
	case c.MirrorConcurrency < 0:
		return c, canary.Invalid("Config.MirrorConcurrency", c.MirrorConcurrency, "must not be negative (zero means %d)", DefaultMirrorConcurrency)
	case c.MirrorMaxBody < 0:
		return c, canary.Invalid("Config.MirrorMaxBody", c.MirrorMaxBody, "must not be negative (zero means %d)", DefaultMirrorMaxBody)
	case c.MirrorTimeout < 0:
		return c, canary.Invalid("Config.MirrorTimeout", c.MirrorTimeout, "must not be negative (zero means %v)", DefaultMirrorTimeout)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.LatencySamples == 0 {
		c.LatencySamples = DefaultLatencySamples
	}
	if c.MirrorConcurrency == 0 {
		c.MirrorConcurrency = DefaultMirrorConcurrency
	}
	if c.MirrorMaxBody == 0 {
		c.MirrorMaxBody = DefaultMirrorMaxBody
	}
	if c.MirrorTimeout == 0 {
		c.MirrorTimeout = DefaultMirrorTimeout
	}
	if c.UpstreamTimeout == 0 {
		c.UpstreamTimeout = DefaultUpstreamTimeout
	}
	return c, nil
}

func checkURL(field string, u *url.URL) error {
	switch {
	case u == nil:
		return canary.Invalid(field, nil, "must be set")
	case u.Scheme != "http" && u.Scheme != "https":
		return canary.Invalid(field, u.String(), "must be an absolute http or https URL")
	case u.Host == "":
		return canary.Invalid(field, u.String(), "must have a host")
	case u.User != nil:
		return canary.Invalid(field, u.Redacted(), "must not carry user information")
	}
	return nil
}
