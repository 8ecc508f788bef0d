package testredis

import (
	"bytes"
	"crypto/tls"
	"net/url"
	"os"
	"strings"
	"testing"
)

func TestStopAndRestartOnTheSamePort(t *testing.T) {
	s := Start(t)
	if err := ping(s.Addr()); err != nil {
		t.Fatalf("fresh server does not answer PING: %v", err)
	}
	addr := s.Addr()
	s.Stop()
	if err := ping(addr); err == nil {
		t.Fatal("stopped server still answers PING")
	}
	s.Restart(t)
	if s.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", s.Addr(), addr)
	}
	if err := ping(s.Addr()); err != nil {
		t.Fatalf("restarted server does not answer PING: %v", err)
	}
}

func TestStartWithTLSServesTLSOnly(t *testing.T) {
	s := StartWith(t, Options{TLS: true})
	if !strings.HasPrefix(s.URL(), "rediss://127.0.0.1:") {
		t.Fatalf("URL() = %q, want rediss://127.0.0.1:port", s.URL())
	}
	if len(s.CAPEM()) == 0 || s.CAFile() == "" {
		t.Fatal("a TLS server has no CA")
	}
	if b, err := os.ReadFile(s.CAFile()); err != nil || !bytes.Equal(b, s.CAPEM()) {
		t.Fatalf("CAFile() does not hold CAPEM() (%v)", err)
	}
	if err := s.pingAs(nil); err != nil {
		t.Fatalf("PING over TLS with the CA: %v", err)
	}
	if err := ping(s.Addr()); err == nil {
		t.Fatal("the TLS port answers PING in plain text")
	}
	// A client with only the system roots must not trust the throw-away CA.
	c, err := tls.Dial("tcp", s.Addr(), &tls.Config{ServerName: "127.0.0.1"})
	if err == nil {
		c.Close()
		t.Fatal("TLS handshake without the CA succeeded")
	}
	s.Restart(t)
	if err := s.pingAs(nil); err != nil {
		t.Fatalf("PING over TLS after Restart: %v", err)
	}
}

func TestStartWithACLUsers(t *testing.T) {
	alice := User{Name: "alice", Password: `p@ss:w/o"rd #1`}
	odd := User{Name: `x"y\z:w`, Password: "o"} // quoted in the config file
	s := StartWith(t, Options{Users: []User{alice, {Name: "bob", Password: "b"}, odd}})
	if strings.Contains(s.URL(), "@") {
		t.Fatalf("URL() = %q has user information", s.URL())
	}
	u, err := url.Parse(s.UserURL(alice.Name, alice.Password))
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := u.User.Password(); u.Scheme != "redis" || u.User.Username() != alice.Name || p != alice.Password || u.Host != s.Addr() {
		t.Fatalf("UserURL = %v, does not give back the user, password and address", u)
	}
	for _, tc := range []struct {
		name string
		as   *User
		want string // "" for success, else a part of the error
	}{
		{"alice", &alice, ""},
		{"bob", &User{Name: "bob", Password: "b"}, ""},
		{"odd name", &odd, ""},
		{"no AUTH", nil, "NOAUTH"},
		{"wrong password", &User{Name: "alice", Password: "nope"}, "WRONGPASS"},
		{"default user is off", &User{Name: "default", Password: ""}, "WRONGPASS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.pingAs(tc.as)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("PING: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("PING: %v, want an error with %s", err, tc.want)
			}
		})
	}
	s.Restart(t)
	if err := s.pingAs(&alice); err != nil {
		t.Fatalf("PING as alice after Restart: %v", err)
	}
}

func TestStartWithACLDefaultUserPassword(t *testing.T) {
	s := StartWith(t, Options{Users: []User{{Name: "default", Password: "s3cret"}}})
	if err := s.pingAs(&User{Name: "default", Password: "s3cret"}); err != nil {
		t.Fatalf("PING as default: %v", err)
	}
	if err := s.pingAs(nil); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("PING without AUTH: %v, want NOAUTH", err)
	}
}

func TestStartWithTLSAndACL(t *testing.T) {
	alice := User{Name: "alice", Password: "secret"}
	s := StartWith(t, Options{TLS: true, Users: []User{alice}})
	if got, want := s.UserURL("alice", "secret"), "rediss://alice:secret@"+s.Addr(); got != want {
		t.Fatalf("UserURL = %q, want %q", got, want)
	}
	if err := s.pingAs(&alice); err != nil {
		t.Fatalf("PING over TLS as alice: %v", err)
	}
	if err := s.pingAs(nil); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("PING over TLS without AUTH: %v, want NOAUTH", err)
	}
}

func TestStartWithACLRejectsBadUserName(t *testing.T) {
	if _, err := writeUsersConf(t.TempDir(), []User{{Name: "al ice"}}); err == nil {
		t.Fatal("a user name with a space was accepted")
	}
}
