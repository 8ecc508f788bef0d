package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// selfSigned returns a TLS configuration with a throw-away certificate for
// 127.0.0.1, ::1 and localhost, made now and valid for a day: enough for
// tests run against a browser told to ignore certificate errors. It
// offers HTTP/2 ("h2") first, as http.Server does by default.
func selfSigned() (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "sockline testserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}, nil
}

// protocols counts the requests served per HTTP version and SockJS
// endpoint (the last path segment), and serves the counts as JSON at
// /protocols, so that a browser test can check which version carried each
// transport.
type protocols struct {
	mu     sync.Mutex
	counts map[string]map[string]int // proto -> endpoint -> requests
}

func (p *protocols) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/protocols" {
			p.mu.Lock()
			b, _ := json.Marshal(p.counts)
			p.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Access-Control-Allow-Origin", "*")
			_, _ = w.Write(b)
			return
		}
		endpoint := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		p.mu.Lock()
		if p.counts == nil {
			p.counts = make(map[string]map[string]int)
		}
		if p.counts[r.Proto] == nil {
			p.counts[r.Proto] = make(map[string]int)
		}
		p.counts[r.Proto][endpoint]++
		p.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}
