package prometheus_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/providers/prometheus"
)

func writePEM(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// clientCert makes a self-signed client certificate and returns its PEM
// files and the pool that trusts it.
func clientCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "meshcanary-test-client"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return writePEM(t, "client.pem", "CERTIFICATE", der), writePEM(t, "client-key.pem", "EC PRIVATE KEY", kder), pool
}

func tlsServer(t *testing.T, clientCAs *x509.CertPool) (*httptest.Server, string) {
	t.Helper()
	a := &api{t: t, answer: fixed("scalar", `[`+ts()+`,"1"]`)}
	s := httptest.NewUnstartedServer(a)
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	if clientCAs != nil {
		s.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs}
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s, writePEM(t, "ca.pem", "CERTIFICATE", s.Certificate().Raw)
}

func TestTLS(t *testing.T) {
	s, ca := tlsServer(t, nil)
	query := func(cfg prometheus.Config) error {
		cfg.Address = s.URL
		p, err := prometheus.New(cfg)
		if err != nil {
			return err
		}
		_, err = p.Query(context.Background(), q("x"))
		return err
	}
	if err := query(prometheus.Config{TLS: prometheus.TLS{CAFile: ca}}); err != nil {
		t.Errorf("with the server's CA: %v", err)
	}
	var unknown x509.UnknownAuthorityError
	if err := query(prometheus.Config{}); !errors.As(err, &unknown) {
		t.Errorf("without the CA = %v, want x509.UnknownAuthorityError", err)
	}
	if err := query(prometheus.Config{TLS: prometheus.TLS{InsecureSkipVerify: true}}); err != nil {
		t.Errorf("with InsecureSkipVerify: %v", err)
	}
	// httptest's certificate is for example.com and 127.0.0.1.
	if err := query(prometheus.Config{TLS: prometheus.TLS{CAFile: ca, ServerName: "example.com"}}); err != nil {
		t.Errorf("with ServerName example.com: %v", err)
	}
	var host x509.HostnameError
	if err := query(prometheus.Config{TLS: prometheus.TLS{CAFile: ca, ServerName: "prometheus.internal"}}); !errors.As(err, &host) {
		t.Errorf("with a wrong ServerName = %v, want x509.HostnameError", err)
	}
	notPEM := filepath.Join(t.TempDir(), "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := query(prometheus.Config{TLS: prometheus.TLS{CAFile: notPEM}}); !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("with a CA file holding no certificate = %v, want ErrInvalid", err)
	}
}

func TestMutualTLS(t *testing.T) {
	certFile, keyFile, pool := clientCert(t)
	s, ca := tlsServer(t, pool)
	query := func(tc prometheus.TLS) error {
		p, err := prometheus.New(prometheus.Config{Address: s.URL, TLS: tc})
		if err != nil {
			return err
		}
		_, err = p.Query(context.Background(), q("x"))
		return err
	}
	if err := query(prometheus.TLS{CAFile: ca, CertFile: certFile, KeyFile: keyFile}); err != nil {
		t.Errorf("with the client certificate: %v", err)
	}
	if err := query(prometheus.TLS{CAFile: ca}); err == nil {
		t.Error("without a client certificate the server must refuse the handshake")
	}
	// A key that does not match the certificate: refused by New, naming the
	// files but never showing the key.
	_, otherKey, _ := clientCert(t)
	err := query(prometheus.TLS{CAFile: ca, CertFile: certFile, KeyFile: otherKey})
	var fe *canary.FieldError
	if !errors.As(err, &fe) || fe.Field != "Config.TLS.CertFile" {
		t.Fatalf("mismatched key = %v, want a FieldError on Config.TLS.CertFile", err)
	}
	key, _ := os.ReadFile(otherKey)
	body := strings.Split(string(key), "\n")[1]
	if strings.Contains(err.Error(), body) {
		t.Errorf("error shows the key: %v", err)
	}
}
