package prometheus

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/meshcanary/canary"
)

// minSecret is the shortest header value treated as a secret to redact:
// shorter ones ("1", "yes") would redact ordinary words from errors and
// protect nothing.
const minSecret = 6

// transport builds the round tripper from cfg and lists the secrets it
// sends.
func transport(cfg Config) (http.RoundTripper, []string, error) {
	if cfg.BearerToken != "" && cfg.BasicAuth != nil {
		return nil, nil, canary.Invalid("Config.BearerToken", nil, "and Config.BasicAuth are mutually exclusive")
	}
	if strings.ContainsAny(cfg.BearerToken, "\r\n") {
		return nil, nil, canary.Invalid("Config.BearerToken", nil, "must not contain a line break")
	}
	h := http.Header{}
	var secrets []string
	for _, k := range sortedKeys(cfg.Headers) {
		v := cfg.Headers[k]
		field := "Config.Headers[" + k + "]"
		if !validHeaderName(k) {
			return nil, nil, canary.Invalid("Config.Headers", k, "is not a valid header name")
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return nil, nil, canary.Invalid(field, nil, "must not contain a line break or NUL")
		}
		if http.CanonicalHeaderKey(k) == "Authorization" && (cfg.BearerToken != "" || cfg.BasicAuth != nil) {
			return nil, nil, canary.Invalid(field, nil, "conflicts with Config.BearerToken or Config.BasicAuth")
		}
		h.Set(k, v)
		if len(v) >= minSecret {
			secrets = append(secrets, v)
		}
	}
	if cfg.BearerToken != "" {
		h.Set("Authorization", "Bearer "+cfg.BearerToken)
		secrets = append(secrets, cfg.BearerToken)
	}
	if b := cfg.BasicAuth; b != nil {
		if b.Username == "" {
			return nil, nil, canary.Invalid("Config.BasicAuth.Username", b.Username, "must be set")
		}
		if strings.Contains(b.Username, ":") {
			return nil, nil, canary.Invalid("Config.BasicAuth.Username", b.Username, "must not contain ':'")
		}
		enc := base64.StdEncoding.EncodeToString([]byte(b.Username + ":" + b.Password))
		h.Set("Authorization", "Basic "+enc)
		secrets = append(secrets, enc)
		if b.Password != "" {
			secrets = append(secrets, b.Password)
		}
	}

	base := cfg.Transport
	if base == nil {
		tc, err := tlsConfig(cfg.TLS)
		if err != nil {
			return nil, nil, err
		}
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = tc
		base = t
	} else if cfg.TLS != (TLS{}) {
		return nil, nil, canary.Invalid("Config.TLS", nil, "must be zero when Config.Transport is set; configure TLS on the transport")
	}
	if len(h) == 0 {
		return base, nil, nil
	}
	return &headerTransport{base: base, header: h}, secrets, nil
}

func tlsConfig(c TLS) (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // documented as for tests only
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, canary.Invalid("Config.TLS.CAFile", c.CAFile, "cannot be read: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, canary.Invalid("Config.TLS.CAFile", c.CAFile, "holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	switch {
	case c.CertFile != "" && c.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			// The error names the files, never their contents.
			return nil, canary.Invalid("Config.TLS.CertFile", c.CertFile, "cannot be loaded with Config.TLS.KeyFile: %v", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	case c.CertFile != "":
		return nil, canary.Invalid("Config.TLS.KeyFile", c.KeyFile, "must be set with Config.TLS.CertFile")
	case c.KeyFile != "":
		return nil, canary.Invalid("Config.TLS.CertFile", c.CertFile, "must be set with Config.TLS.KeyFile")
	}
	return tc, nil
}

// headerTransport adds fixed headers to every request.
type headerTransport struct {
	base   http.RoundTripper
	header http.Header
}

func (t *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// A RoundTripper must not change the caller's request.
	r := req.Clone(req.Context())
	for k, v := range t.header {
		r.Header[k] = v
	}
	return t.base.RoundTrip(r)
}

func redactor(secrets []string) *strings.Replacer {
	if len(secrets) == 0 {
		return nil
	}
	// Longest first, so that a secret containing another is replaced whole.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(secrets))
	for _, s := range secrets {
		pairs = append(pairs, s, "[REDACTED]")
	}
	return strings.NewReplacer(pairs...)
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", c):
		default:
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
