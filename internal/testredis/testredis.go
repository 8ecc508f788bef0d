// Package testredis starts a private redis-server for tests: on a free
// loopback port, with persistence off, killed when the test ends. Tests of
// the cluster need a real server (the semantics of SET NX PX, streams and
// pub/sub under reconnects are the point), so there is no fake.
//
// StartWith starts one with TLS only (a throw-away CA made at test time) or
// with ACL users, for tests of how clients reach a secured Redis.
//
// When redis-server is not installed, Start fails the test with a message
// naming the command that installs it (scripts/test-all.sh runs it): a
// missing server is a broken machine, not a reason to skip.
package testredis

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ErrNotInstalled is returned by Find when no redis-server can be found.
var ErrNotInstalled = errors.New("testredis: redis-server not found: install it with `apt-get install redis-server` (scripts/test-all.sh does) or set REDIS_SERVER to its path")

// Find returns the path of the redis-server binary: $REDIS_SERVER, else the
// one on PATH, else Debian's /usr/bin/redis-server.
func Find() (string, error) {
	if p := os.Getenv("REDIS_SERVER"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/redis-server"); err == nil {
		return "/usr/bin/redis-server", nil
	}
	return "", ErrNotInstalled
}

// Server is one redis-server process on 127.0.0.1. It can be stopped and
// started again on the same port, for outage tests.
type Server struct {
	bin  string
	port int // the TLS port when opts.TLS
	dir  string

	opts   Options
	conf   string // config file with the ACL users; "" when none
	caPEM  []byte // the throw-away CA when opts.TLS
	caFile string

	// extra are more redis-server arguments (a cluster node's); sentinel
	// makes the server a sentinel whose whole configuration is conf.
	extra    []string
	sentinel bool

	mu     sync.Mutex
	proc   *os.Process
	exited chan struct{} // closed when proc has been waited for
}

// Options says how StartWith secures a server. The zero Options is what
// Start starts: plain TCP, and no authentication.
type Options struct {
	// TLS makes the server speak TLS only (no plain port), with a
	// certificate for 127.0.0.1, ::1 and localhost signed by a throw-away
	// CA made for this server (Server.CAPEM, Server.CAFile). Clients are
	// not asked for certificates (tls-auth-clients no).
	TLS bool
	// Users are ACL users allowed everything (~* &* +@all). When there are
	// any, the default user is off, so that every connection must
	// authenticate, unless one of them is named "default": that one is the
	// default user with its password (what requirepass sets).
	Users []User
}

// User is an ACL user of a server started by StartWith.
type User struct {
	// Name is the user name: not empty, no spaces or control characters
	// (Redis refuses them).
	Name string
	// Password is the user's password; empty means the user needs none
	// (nopass).
	Password string
}

// Start starts a server for t and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith starts a server secured as o says for t and stops it when t
// ends. StartWith(t, Options{}) is Start(t).
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	bin, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("testredis: no free port: %v", err)
	}
	s := &Server{bin: bin, port: port, dir: t.TempDir(), opts: o}
	s.opts.Users = append([]User(nil), o.Users...)
	if o.TLS {
		if s.caPEM, err = writeTLSFiles(s.dir); err != nil {
			t.Fatalf("testredis: make the TLS certificates: %v", err)
		}
		s.caFile = filepath.Join(s.dir, caFileName)
	}
	if len(o.Users) > 0 {
		if s.conf, err = writeUsersConf(s.dir, o.Users); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Addr returns host:port (the TLS port for a TLS server).
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL returns the URL of the server, without user information: redis://,
// or rediss:// for a TLS server.
func (s *Server) URL() string { return s.scheme() + "://" + s.Addr() }

// UserURL returns URL with name and password as its user information,
// percent-encoded as URLs need.
func (s *Server) UserURL(name, password string) string {
	u := url.URL{Scheme: s.scheme(), User: url.UserPassword(name, password), Host: s.Addr()}
	return u.String()
}

// CAPEM returns the PEM certificate of the CA that signed a TLS server's
// certificate, for clients to trust; nil when the server has no TLS.
func (s *Server) CAPEM() []byte { return append([]byte(nil), s.caPEM...) }

// CAFile returns the path of a file holding CAPEM; "" when the server has
// no TLS.
func (s *Server) CAFile() string { return s.caFile }

func (s *Server) scheme() string {
	if s.opts.TLS {
		return "rediss"
	}
	return "redis"
}

// Stop kills the server (as a crash would) and waits for it to exit. It is
// safe to call more than once.
func (s *Server) Stop() {
	s.mu.Lock()
	proc, exited := s.proc, s.exited
	s.proc, s.exited = nil, nil
	s.mu.Unlock()
	if proc == nil {
		return
	}
	_ = proc.Kill()
	<-exited
}

// Restart starts a stopped server again on the same port, empty (there is no
// persistence), as a replacement server after an outage would be.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
}

func (s *Server) start() error {
	var args []string
	if s.sentinel {
		return s.run([]string{s.conf, "--sentinel"})
	}
	if s.conf != "" {
		args = append(args, s.conf) // a config file must come first
	}
	if s.opts.TLS {
		args = append(args,
			"--port", "0",
			"--tls-port", strconv.Itoa(s.port),
			"--tls-cert-file", filepath.Join(s.dir, certFileName),
			"--tls-key-file", filepath.Join(s.dir, keyFileName),
			"--tls-ca-cert-file", s.caFile,
			"--tls-auth-clients", "no",
		)
	} else {
		args = append(args, "--port", strconv.Itoa(s.port))
	}
	args = append(args,
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--protected-mode", "yes",
		"--loglevel", "warning",
	)
	return s.run(append(args, s.extra...))
}

// run starts redis-server with args and waits until it answers.
func (s *Server) run(args []string) error {
	cmd := exec.Command(s.bin, args...)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testredis: start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for s.ready() != nil {
		select {
		case <-exited:
			return fmt.Errorf("testredis: redis-server exited at start (%v): %s", waitErr, out)
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("testredis: redis-server on port %d did not answer PING within 10s: %s", s.port, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.mu.Lock()
	s.proc, s.exited = cmd.Process, exited
	s.mu.Unlock()
	return nil
}

// ready tells whether the server answers a client as the tests' clients
// will reach it: over TLS with its CA when it has TLS, authenticated as its
// first user when it has users.
func (s *Server) ready() error {
	if !s.opts.TLS && len(s.opts.Users) == 0 {
		return ping(s.Addr())
	}
	var auth *User
	if len(s.opts.Users) > 0 {
		auth = &s.opts.Users[0]
	}
	return s.pingAs(auth)
}

// pingAs connects (over TLS trusting the server's CA when it has TLS),
// authenticates as u unless u is nil, and expects PING to answer +PONG.
func (s *Server) pingAs(u *User) error {
	var c net.Conn
	var err error
	if s.opts.TLS {
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(s.caPEM)
		d := &net.Dialer{Timeout: time.Second}
		c, err = tls.DialWithDialer(d, "tcp", s.Addr(), &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	} else {
		c, err = net.DialTimeout("tcp", s.Addr(), time.Second)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	r := bufio.NewReader(c)
	if u != nil {
		if err := command(c, r, "+OK", "AUTH", u.Name, u.Password); err != nil {
			return err
		}
	}
	return command(c, r, "+PONG", "PING")
}

// command sends args as a RESP array and expects an answer starting with
// want.
func command(c net.Conn, r *bufio.Reader, want string, args ...string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, want) {
		return fmt.Errorf("unexpected answer %q", strings.TrimSpace(line))
	}
	return nil
}

// ping sends an inline PING and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("unexpected answer %q", line)
	}
	return nil
}

// Names of the TLS files in the server's directory.
const (
	caFileName   = "ca.pem"
	certFileName = "server.pem"
	keyFileName  = "server-key.pem"
)

// writeTLSFiles makes a throw-away CA and a server certificate it signs
// for 127.0.0.1, ::1 and localhost, writes them to dir and returns the CA's
// PEM.
func writeTLSFiles(dir string) ([]byte, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "testredis throw-away CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	files := []struct {
		name string
		data []byte
	}{
		{caFileName, caPEM},
		{certFileName, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})},
		{keyFileName, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o600); err != nil {
			return nil, err
		}
	}
	return caPEM, nil
}

// serial returns a random certificate serial number.
func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n
}

// writeUsersConf writes a config file declaring users to dir and returns
// its path. Passwords are given hashed (#sha256), names quoted, so that no
// character needs escaping by the caller.
func writeUsersConf(dir string, users []User) (string, error) {
	var b strings.Builder
	hasDefault := false
	for _, u := range users {
		if u.Name == "" || strings.IndexFunc(u.Name, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
			return "", fmt.Errorf("testredis: ACL user name %q: give a non-empty name without spaces or control characters", u.Name)
		}
		hasDefault = hasDefault || u.Name == "default"
		pass := "nopass"
		if u.Password != "" {
			sum := sha256.Sum256([]byte(u.Password))
			pass = "#" + hex.EncodeToString(sum[:])
		}
		fmt.Fprintf(&b, "user %s reset on %s ~* &* +@all\n", quoteConf(u.Name), pass)
	}
	if !hasDefault {
		b.WriteString("user default off\n")
	}
	p := filepath.Join(dir, "users.conf")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		return "", fmt.Errorf("testredis: write the ACL users: %w", err)
	}
	return p, nil
}

// quoteConf quotes s for a redis.conf line: in double quotes, every byte
// but letters and digits as \xHH.
func quoteConf(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "\\x%02x", c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// freeBusPort returns a free port p whose cluster bus port p+10000 is free
// too, and below 65536.
func freeBusPort() (int, error) {
	for range 200 {
		p, err := freePort()
		if err != nil {
			return 0, err
		}
		if p+10000 >= 65536 {
			// Ephemeral ports are often above 55535: take one below.
			p = 20000 + p%30000
		}
		if portFree(p) && portFree(p+10000) {
			return p, nil
		}
	}
	return 0, errors.New("no port p with p and p+10000 both free")
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer collects the server's output for error messages; stdout and
// stderr write to it from two goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.TrimSpace(w.b.String())
}
