package trigger

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meshcanary/canary"
)

var (
	// ErrUnauthenticated: the request carries no valid credentials (a
	// missing or wrong token, a missing or bad signature, a timestamp
	// outside the window). Served as 401.
	ErrUnauthenticated = errors.New("trigger: unauthenticated")
	// ErrReplayed: a signed request whose nonce was seen within the
	// window. Served as 409.
	ErrReplayed = errors.New("trigger: replayed request")
)

// Authenticator checks a request before anything in it is acted on. body
// is the request's whole body, already read (and bounded). An error wraps
// [ErrUnauthenticated] or [ErrReplayed] and never holds a secret.
type Authenticator interface {
	Authenticate(r *http.Request, body []byte, now time.Time) error
}

// Bearer accepts requests whose Authorization header is "Bearer <Token>",
// what Alertmanager sends with a webhook_config's
// http_config.authorization.credentials (or credentials_file). The
// comparison takes the same time whatever the token given. Bearer has no
// replay protection of its own: a repeated alert is stopped by the
// Applier's ledger, and a token should travel only over TLS.
type Bearer struct {
	Token string
}

// Authenticate implements Authenticator.
func (b Bearer) Authenticate(r *http.Request, _ []byte, _ time.Time) error {
	if b.Token == "" {
		return fmt.Errorf("%w: the receiver has no token configured", ErrUnauthenticated)
	}
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return fmt.Errorf("%w: no bearer token in the Authorization header", ErrUnauthenticated)
	}
	want := sha256.Sum256([]byte(b.Token))
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	if subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
		return fmt.Errorf("%w: wrong bearer token", ErrUnauthenticated)
	}
	return nil
}

// The headers of a signed request.
const (
	HeaderTimestamp = "X-Canary-Timestamp" // Unix seconds
	HeaderNonce     = "X-Canary-Nonce"     // 16 to 128 characters, unique per request
	HeaderSignature = "X-Canary-Signature" // "v1=" + hex HMAC-SHA256
)

// DefaultWindow is the zero [HMACConfig] Window.
const DefaultWindow = 5 * time.Minute

// DefaultMaxNonces is the zero [HMACConfig] MaxNonces.
const DefaultMaxNonces = 100000

// HMAC accepts requests signed with a shared key, for senders that can
// sign (a relay in front of Alertmanager, a script, another controller).
// The signature is
//
//	X-Canary-Signature: v1=hex(HMAC-SHA256(Key, timestamp + "\n" + nonce + "\n" + body))
//
// with the timestamp (Unix seconds) and the nonce in their own headers. A
// request whose timestamp is more than the [HMACConfig] Window from now,
// or whose nonce was already accepted within the window, is refused; the
// nonces are held in memory for the window, at most MaxNonces of them
// (then new requests are refused until old nonces expire, rather than
// forgetting one that could be replayed). Build it with [NewHMAC].
type HMAC struct {
	key       []byte
	window    time.Duration
	maxNonces int

	mu     sync.Mutex
	nonces map[string]time.Time // nonce → its timestamp
}

// HMACConfig configures an [HMAC]. Key is required; Window and MaxNonces
// default when zero.
type HMACConfig struct {
	// Key is the shared key, at least 32 bytes. NewHMAC copies it.
	Key []byte
	// Window is how far a request's timestamp may be from now, either way,
	// and how long its nonce is remembered; zero means [DefaultWindow].
	Window time.Duration
	// MaxNonces is how many nonces are held at most; zero means
	// [DefaultMaxNonces].
	MaxNonces int
}

// NewHMAC returns an HMAC authenticator. A short key or a negative Window
// or MaxNonces is a [*canary.FieldError] naming the HMACConfig field.
func NewHMAC(cfg HMACConfig) (*HMAC, error) {
	if len(cfg.Key) < 32 {
		return nil, canary.Invalid("HMACConfig.Key", fmt.Sprintf("%d bytes", len(cfg.Key)), "must be at least 32 bytes")
	}
	if cfg.Window < 0 {
		return nil, canary.Invalid("HMACConfig.Window", cfg.Window, "must not be negative")
	}
	if cfg.MaxNonces < 0 {
		return nil, canary.Invalid("HMACConfig.MaxNonces", cfg.MaxNonces, "must not be negative")
	}
	window, maxNonces := cfg.Window, cfg.MaxNonces
	if window == 0 {
		window = DefaultWindow
	}
	if maxNonces == 0 {
		maxNonces = DefaultMaxNonces
	}
	return &HMAC{key: append([]byte(nil), cfg.Key...), window: window, maxNonces: maxNonces, nonces: map[string]time.Time{}}, nil
}

// Sign returns the signature header value for body sent at ts with nonce.
func (h *HMAC) Sign(ts time.Time, nonce string, body []byte) string {
	return "v1=" + hex.EncodeToString(h.mac(strconv.FormatInt(ts.Unix(), 10), nonce, body))
}

// SignRequest sets the three headers on r for body.
func (h *HMAC) SignRequest(r *http.Request, ts time.Time, nonce string, body []byte) {
	r.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	r.Header.Set(HeaderNonce, nonce)
	r.Header.Set(HeaderSignature, h.Sign(ts, nonce, body))
}

func (h *HMAC) mac(ts, nonce string, body []byte) []byte {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(ts))
	m.Write([]byte{'\n'})
	m.Write([]byte(nonce))
	m.Write([]byte{'\n'})
	m.Write(body)
	return m.Sum(nil)
}

// Authenticate implements Authenticator.
func (h *HMAC) Authenticate(r *http.Request, body []byte, now time.Time) error {
	if h == nil || len(h.key) == 0 {
		return fmt.Errorf("%w: the receiver has no key configured", ErrUnauthenticated)
	}
	ts, nonce, sig := r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderNonce), r.Header.Get(HeaderSignature)
	if ts == "" || nonce == "" || sig == "" {
		return fmt.Errorf("%w: unsigned: %s, %s and %s are required", ErrUnauthenticated, HeaderTimestamp, HeaderNonce, HeaderSignature)
	}
	if len(nonce) < 16 || len(nonce) > 128 {
		return fmt.Errorf("%w: %s must be 16 to 128 characters", ErrUnauthenticated, HeaderNonce)
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s is not Unix seconds", ErrUnauthenticated, HeaderTimestamp)
	}
	at := time.Unix(secs, 0)
	if d := now.Sub(at); d > h.window || d < -h.window {
		return fmt.Errorf("%w: %s is %s from now, outside the %s window", ErrUnauthenticated, HeaderTimestamp, d.Round(time.Second), h.window)
	}
	hexSig, ok := strings.CutPrefix(sig, "v1=")
	got, err := hex.DecodeString(hexSig)
	if !ok || err != nil || !hmac.Equal(got, h.mac(ts, nonce, body)) {
		return fmt.Errorf("%w: bad signature", ErrUnauthenticated)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for n, t := range h.nonces {
		if now.Sub(t) > h.window {
			delete(h.nonces, n)
		}
	}
	if _, seen := h.nonces[nonce]; seen {
		return fmt.Errorf("%w: nonce already used within the %s window", ErrReplayed, h.window)
	}
	if len(h.nonces) >= h.maxNonces {
		return fmt.Errorf("%w: too many signed requests within the %s window", ErrUnauthenticated, h.window)
	}
	h.nonces[nonce] = at
	return nil
}
