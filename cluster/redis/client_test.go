package redis_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sockline/sockline/cluster/redis"
	"github.com/sockline/sockline/internal/testredis"
)

// newClient makes a client with redis.NewClientWith and closes it when t
// ends.
func newClient(t *testing.T, addr string, o redis.ClientOptions) *goredis.Client {
	t.Helper()
	rdb, err := redis.NewClientWith(addr, o)
	if err != nil {
		t.Fatalf("NewClientWith: %v", err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// roundTrip checks that rdb works for what a cluster node does: PING, a
// Store registering and claiming a session, and a Bus delivering a
// published payload to a subscriber (on its own subscription connection,
// which must get through TLS and AUTH as well). It checks that the client
// is logged in as user.
func roundTrip(t *testing.T, rdb *goredis.Client, user string) {
	t.Helper()
	ctx := ctxFor(t)
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING: %v", err)
	}
	if got, err := rdb.Do(ctx, "ACL", "WHOAMI").Text(); err != nil || got != user {
		t.Fatalf("ACL WHOAMI = %q, %v; want %q", got, err, user)
	}
	prefix := "rt" + strings.ReplaceAll(t.Name(), "/", ":") + ":"
	st, err := redis.NewStore(rdb, redis.StoreOptions{Node: "n1", Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Register(ctx); err != nil {
		t.Fatalf("Register: %v", err)
	}
	owner, created, err := st.Claim(ctx, "sid")
	if err != nil || owner != st.Node() || !created {
		t.Fatalf("Claim = %q, %v, %v; want %q, true, nil", owner, created, err, st.Node())
	}

	bus := redis.NewBus(rdb, redis.BusOptions{Prefix: prefix})
	defer func() {
		if err := bus.Close(); err != nil {
			t.Errorf("Bus.Close: %v", err)
		}
	}()
	got := make(chan string, 1)
	unsub, err := bus.Subscribe(ctx, "topic", func(_ string, p []byte) {
		select {
		case got <- string(p):
		default:
		}
	})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer unsub()
	if err := bus.Publish(ctx, "topic", []byte("hello")); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	select {
	case p := <-got:
		if p != "hello" {
			t.Fatalf("received %q, want hello", p)
		}
	case <-ctx.Done():
		t.Fatal("the published payload did not arrive")
	}
}

func TestClientPlainHostPortAndURL(t *testing.T) {
	srv := testredis.Start(t)
	for _, addr := range []string{srv.Addr(), srv.URL()} {
		t.Run(addr, func(t *testing.T) {
			rdb, err := redis.NewClient(addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { rdb.Close() })
			roundTrip(t, rdb, "default")
		})
	}
}

func TestClientTLSWithPrivateCA(t *testing.T) {
	srv := testredis.StartWith(t, testredis.Options{TLS: true})
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(srv.CAPEM()) {
		t.Fatal("CAPEM holds no certificate")
	}
	port := srv.Addr()[strings.LastIndexByte(srv.Addr(), ':')+1:]
	for _, tc := range []struct {
		name string
		addr string
		opts redis.ClientOptions
	}{
		{"CAFile", srv.URL(), redis.ClientOptions{CAFile: srv.CAFile()}},
		{"CAPEM", srv.URL(), redis.ClientOptions{CAPEM: srv.CAPEM()}},
		{"CAFile and CAPEM", srv.URL(), redis.ClientOptions{CAFile: srv.CAFile(), CAPEM: srv.CAPEM()}},
		{"TLSConfig.RootCAs", srv.URL(), redis.ClientOptions{TLSConfig: &tls.Config{RootCAs: roots}}},
		{"TLSConfig with ServerName and CAFile", srv.URL(), redis.ClientOptions{CAFile: srv.CAFile(), TLSConfig: &tls.Config{ServerName: "localhost"}}},
		{"host name from the URL", "rediss://localhost:" + port, redis.ClientOptions{CAFile: srv.CAFile()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			roundTrip(t, newClient(t, tc.addr, tc.opts), "default")
		})
	}
}

func TestClientTLSOptionsDoNotChangeTheCallersConfig(t *testing.T) {
	srv := testredis.StartWith(t, testredis.Options{TLS: true})
	tc := &tls.Config{}
	roundTrip(t, newClient(t, srv.URL(), redis.ClientOptions{CAFile: srv.CAFile(), TLSConfig: tc}), "default")
	if tc.RootCAs != nil || tc.ServerName != "" || tc.MinVersion != 0 {
		t.Fatalf("NewClientWith changed the caller's TLSConfig: %+v", tc)
	}
}

func TestClientTLSUntrustedServerFails(t *testing.T) {
	srv := testredis.StartWith(t, testredis.Options{TLS: true})
	other := testredis.StartWith(t, testredis.Options{TLS: true})
	for _, tc := range []struct {
		name string
		opts redis.ClientOptions
		want string
	}{
		{"system roots", redis.ClientOptions{}, "certificate signed by unknown authority"},
		{"another CA", redis.ClientOptions{CAFile: other.CAFile()}, "certificate signed by unknown authority"},
		{"a name the certificate is not for", redis.ClientOptions{CAFile: srv.CAFile(), TLSConfig: &tls.Config{ServerName: "redis.example"}}, "not redis.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rdb := newClient(t, srv.URL(), tc.opts)
			err := rdb.Ping(ctxFor(t)).Err()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("PING: %v, want an error with %q", err, tc.want)
			}
			var verr *tls.CertificateVerificationError
			if !errors.As(err, &verr) {
				t.Fatalf("PING: %v (%T), want a *tls.CertificateVerificationError", err, err)
			}
		})
	}
}

func TestClientTLSOptionErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	for _, tc := range []struct {
		name string
		addr string
		opts redis.ClientOptions
		want string
	}{
		{"CA for redis://", "redis://127.0.0.1:6379", redis.ClientOptions{CAFile: notPEM}, "write it as rediss://"},
		{"CA for host:port", "127.0.0.1:6379", redis.ClientOptions{CAPEM: []byte("x")}, "write it as rediss://"},
		{"TLSConfig for redis://", "redis://alice:hunter2@127.0.0.1:6379", redis.ClientOptions{TLSConfig: &tls.Config{}}, `"redis://alice:xxxxx@127.0.0.1:6379" does not use TLS`},
		{"missing CA file", "rediss://127.0.0.1:6379", redis.ClientOptions{CAFile: filepath.Join(dir, "missing.pem")}, "missing.pem: no such file"},
		{"CA file not PEM", "rediss://127.0.0.1:6379", redis.ClientOptions{CAFile: notPEM}, "holds no PEM certificate"},
		{"CAPEM not PEM", "rediss://127.0.0.1:6379", redis.ClientOptions{CAPEM: []byte("x")}, "CAPEM holds no PEM certificate"},
		{"CAs given twice", "rediss://127.0.0.1:6379", redis.ClientOptions{CAFile: notPEM, TLSConfig: &tls.Config{RootCAs: roots}}, "give them one way"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rdb, err := redis.NewClientWith(tc.addr, tc.opts)
			if err == nil {
				rdb.Close()
				t.Fatal("NewClientWith succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewClientWith: %v, want an error with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("NewClientWith: %v shows the password", err)
			}
		})
	}
}

// A password with characters a URL must percent-encode.
const alicePassword = "s3cr3t:p@ss/w#rd?%"

func TestClientACLUser(t *testing.T) {
	users := []testredis.User{{Name: "alice", Password: alicePassword}, {Name: "default", Password: "def-pass"}}
	srv := testredis.StartWith(t, testredis.Options{Users: users})
	tlsSrv := testredis.StartWith(t, testredis.Options{TLS: true, Users: users[:1]})
	for _, tc := range []struct {
		name string
		addr string
		opts redis.ClientOptions
		user string
	}{
		{"user and password in the URL", srv.UserURL("alice", alicePassword), redis.ClientOptions{}, "alice"},
		{"options with redis://", srv.URL(), redis.ClientOptions{Username: "alice", Password: alicePassword}, "alice"},
		{"options with host:port", srv.Addr(), redis.ClientOptions{Username: "alice", Password: alicePassword}, "alice"},
		{"options replace the URL's", srv.UserURL("bob", "wrong"), redis.ClientOptions{Username: "alice", Password: alicePassword}, "alice"},
		{"password only is the default user's", "redis://:def-pass@" + srv.Addr(), redis.ClientOptions{}, "default"},
		{"rediss:// with user and password", tlsSrv.UserURL("alice", alicePassword), redis.ClientOptions{CAFile: tlsSrv.CAFile()}, "alice"},
		{"rediss:// with options", tlsSrv.URL(), redis.ClientOptions{CAPEM: tlsSrv.CAPEM(), Username: "alice", Password: alicePassword}, "alice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			roundTrip(t, newClient(t, tc.addr, tc.opts), tc.user)
		})
	}
}

func TestClientACLWrongCredentialsFailWithoutShowingThePassword(t *testing.T) {
	const wrong = "Wr0ng-pa55w0rd"
	srv := testredis.StartWith(t, testredis.Options{Users: []testredis.User{{Name: "alice", Password: alicePassword}}})
	tlsSrv := testredis.StartWith(t, testredis.Options{TLS: true, Users: []testredis.User{{Name: "alice", Password: alicePassword}}})
	for _, tc := range []struct {
		name string
		addr string
		opts redis.ClientOptions
		want string
	}{
		{"wrong password in the URL", srv.UserURL("alice", wrong), redis.ClientOptions{}, "WRONGPASS"},
		{"wrong password in the options", srv.Addr(), redis.ClientOptions{Username: "alice", Password: wrong}, "WRONGPASS"},
		{"unknown user", srv.UserURL("mallory", alicePassword), redis.ClientOptions{}, "WRONGPASS"},
		{"the default user is off", "redis://:" + wrong + "@" + srv.Addr(), redis.ClientOptions{}, "WRONGPASS"},
		{"no credentials", srv.URL(), redis.ClientOptions{}, "NOAUTH"},
		{"wrong password over TLS", tlsSrv.UserURL("alice", wrong), redis.ClientOptions{CAFile: tlsSrv.CAFile()}, "WRONGPASS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rdb := newClient(t, tc.addr, tc.opts)
			err := rdb.Ping(ctxFor(t)).Err()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("PING: %v, want an error with %s", err, tc.want)
			}
			for _, p := range []string{wrong, alicePassword} {
				if strings.Contains(err.Error(), p) {
					t.Fatalf("PING: %v shows the password", err)
				}
			}
		})
	}
}

func TestClientURLErrorsHideThePassword(t *testing.T) {
	const secret = "hunter2secret"
	for _, tc := range []struct {
		name string
		addr string
		want string // a part of the error
	}{
		{"bad database", "redis://alice:" + secret + "@127.0.0.1:6379/notadb", `"redis://alice:xxxxx@127.0.0.1:6379/notadb": redis: invalid database number`},
		{"bad port", "rediss://alice:" + secret + "@127.0.0.1:port", `"rediss://alice:xxxxx@127.0.0.1:port"`},
		{"unknown option", "redis://alice:" + secret + "@127.0.0.1:6379?bogus=1", "unexpected option: bogus"},
		{"bad scheme", "http://alice:" + secret + "@127.0.0.1:6379", "invalid URL scheme: http"},
		{"password with an unencoded slash", "redis://alice:hunter/2secret@127.0.0.1:6379", "percent-encode"},
		{"password with an unencoded #", "redis://alice:hunter#2secret@127.0.0.1:6379", "percent-encode"},
		{"password with a bad escape", "redis://alice:" + secret + "%zz@127.0.0.1:6379", "percent-encode"},
		{"password alone, bad database", "redis://" + secret + "@127.0.0.1:6379/x", `"redis://xxxxx@127.0.0.1:6379/x"`},
		{"no scheme", "alice:" + secret + "@127.0.0.1:6379", "write it as redis://user:password@host:port"},
		{"empty", "", "empty Redis address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rdb, err := redis.NewClient(tc.addr)
			if err == nil {
				rdb.Close()
				t.Fatal("NewClient succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Fatalf("NewClient: %v, want an error with %q", err, tc.want)
			}
			for _, part := range []string{secret, "hunter", "2secret"} {
				if strings.Contains(msg, part) {
					t.Fatalf("NewClient: %v shows (a part of) the password", err)
				}
			}
		})
	}
}
