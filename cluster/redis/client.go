package redis

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// ClientOptions is what NewClientWith takes besides the address: which
// certificate authorities to trust for a rediss:// server, and credentials
// kept out of the URL.
type ClientOptions struct {
	// CAFile names a PEM file with the certificates of the authorities
	// that sign the server's certificate (a private CA, as redis-cli's
	// --cacert takes it). They are trusted instead of the system's roots.
	// For a rediss:// address only.
	CAFile string
	// CAPEM holds such certificates in PEM, for a CA that is not in a file.
	// With CAFile too, the certificates of both are trusted. For a
	// rediss:// address only.
	CAPEM []byte
	// TLSConfig is the TLS configuration to start from for a rediss://
	// address, for what the fields above do not cover: a client
	// certificate (a server with tls-auth-clients yes), other roots, a
	// server name other than the address's host. It is copied, not
	// changed. An empty ServerName means the address's host, a zero
	// MinVersion TLS 1.2. Give the roots either as its RootCAs or as
	// CAFile/CAPEM, not both. Nil means a configuration trusting the
	// system's roots (or CAFile/CAPEM when given). For a rediss:// address
	// only.
	TLSConfig *tls.Config
	// Username names the ACL user to authenticate as (AUTH username
	// password). Not empty, it replaces the URL's user name.
	Username string
	// Password is the password to authenticate with: the ACL user's, or
	// with no user name the default user's (requirepass). Not empty, it
	// replaces the URL's password, so that the password need not be in an
	// address that ends up in command lines and logs.
	Password string
	// SentinelUsername and SentinelPassword authenticate to the sentinels
	// of NewSentinelClient when they require it (sentinel's requirepass or
	// ACL users); empty means no authentication. Other constructors ignore
	// them.
	SentinelUsername string
	SentinelPassword string
}

// NewClient returns a client for addr, which is "host:port" or a redis://
// (rediss:// for TLS) URL with optional user, password and database, as
// the examples' -redis flag takes it: redis://user:password@host:port/db,
// with characters such as : / ? # @ % in the user or password
// percent-encoded. A rediss:// server's certificate must be signed by one
// of the system's roots; for a private CA use NewClientWith. NewClient
// does not connect yet, so a wrong password or an untrusted certificate is
// reported by the first command.
//
// NewClient(addr) is NewClientWith(addr, ClientOptions{}).
func NewClient(addr string) (*goredis.Client, error) {
	return NewClientWith(addr, ClientOptions{})
}

// NewClientWith is NewClient with opts: a private CA for a rediss://
// server, a client certificate, or credentials given apart from the URL.
// Errors never show a password: a URL's user information is shown as
// user:xxxxx.
func NewClientWith(addr string, opts ClientOptions) (*goredis.Client, error) {
	o, err := parseAddr(addr)
	if err != nil {
		return nil, err
	}
	if o, err = opts.apply(o, addr); err != nil {
		return nil, err
	}
	return goredis.NewClient(o), nil
}

// apply sets o's credentials and TLS configuration from opts; addr, the
// address o was parsed from, is shown (without a password) in errors.
func (opts ClientOptions) apply(o *goredis.Options, addr string) (*goredis.Options, error) {
	if opts.Username != "" {
		o.Username = opts.Username
	}
	if opts.Password != "" {
		o.Password = opts.Password
	}
	if opts.CAFile != "" || len(opts.CAPEM) > 0 || opts.TLSConfig != nil {
		if o.TLSConfig == nil {
			shown, _ := redactURL(addr)
			return nil, fmt.Errorf("cluster: TLS options (a CA or a TLS config) were given but the Redis address %q does not use TLS: write it as rediss://host:port", shown)
		}
		var err error
		if o.TLSConfig, err = opts.tlsConfig(o.TLSConfig); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// parseAddr turns NewClient's addr into go-redis options.
func parseAddr(addr string) (*goredis.Options, error) {
	if addr == "" {
		return nil, errors.New("cluster: empty Redis address: give host:port or a redis:// URL")
	}
	if !strings.Contains(addr, "://") {
		if strings.Contains(addr, "@") {
			// Not echoed: what comes before the @ is likely a password.
			return nil, errors.New("cluster: the Redis address has user information (an @) but no scheme: write it as redis://user:password@host:port (rediss:// for TLS), or give host:port with ClientOptions.Username and Password")
		}
		return &goredis.Options{Addr: addr}, nil
	}
	o, err := goredis.ParseURL(addr)
	if err == nil {
		return o, nil
	}
	shown, hidden := redactURL(addr)
	if !hidden {
		return nil, fmt.Errorf("cluster: Redis URL %q: %w", addr, err)
	}
	// go-redis's and net/url's errors may quote the URL, or a part of the
	// password: report what the URL with its user information hidden
	// gives instead, which is the same error unless the user information
	// is what is wrong.
	if _, err := goredis.ParseURL(shown); err != nil {
		return nil, fmt.Errorf("cluster: Redis URL %q: %v", shown, err)
	}
	return nil, fmt.Errorf("cluster: Redis URL %q: its user name or password does not parse: percent-encode the characters : / ? # @ %% and spaces in them (url.UserPassword does)", shown)
}

// redactURL returns addr with its user information hidden, and whether it
// had any. The user information is taken to run from "://" to the last @,
// wherever that is, so that a password with a character it should have
// percent-encoded (: / ? # @) is hidden whole. The user name is kept when
// it is plainly one: before a colon, without / ? # @ or %.
func redactURL(addr string) (string, bool) {
	i := strings.Index(addr, "://")
	if i < 0 {
		return addr, false
	}
	rest := addr[i+len("://"):]
	j := strings.LastIndexByte(rest, '@')
	if j < 0 {
		return addr, false
	}
	userinfo, hidden := rest[:j], "xxxxx"
	if k := strings.IndexByte(userinfo, ':'); k > 0 && !strings.ContainsAny(userinfo[:k], "/?#@%") {
		hidden = userinfo[:k] + ":xxxxx"
	}
	return addr[:i+len("://")] + hidden + rest[j:], true
}

// tlsConfig returns the TLS configuration for a rediss:// address, from
// base (what go-redis made of the URL: its host as ServerName, TLS 1.2 at
// least, skip_verify) and o.
func (o ClientOptions) tlsConfig(base *tls.Config) (*tls.Config, error) {
	tc := base
	if o.TLSConfig != nil {
		tc = o.TLSConfig.Clone()
		if tc.ServerName == "" {
			tc.ServerName = base.ServerName
		}
		if tc.MinVersion == 0 {
			tc.MinVersion = base.MinVersion
		}
		tc.InsecureSkipVerify = tc.InsecureSkipVerify || base.InsecureSkipVerify
	}
	if o.CAFile == "" && len(o.CAPEM) == 0 {
		return tc, nil
	}
	if tc.RootCAs != nil {
		return nil, errors.New("cluster: ClientOptions gives the CAs to trust twice, as TLSConfig.RootCAs and as CAFile/CAPEM: give them one way")
	}
	roots := x509.NewCertPool()
	if o.CAFile != "" {
		b, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("cluster: Redis CA file: %w", err)
		}
		if !roots.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("cluster: Redis CA file %s holds no PEM certificate: give the CA's certificate in PEM (-----BEGIN CERTIFICATE-----)", o.CAFile)
		}
	}
	if len(o.CAPEM) > 0 && !roots.AppendCertsFromPEM(o.CAPEM) {
		return nil, errors.New("cluster: ClientOptions.CAPEM holds no PEM certificate: give the CA's certificate in PEM (-----BEGIN CERTIFICATE-----)")
	}
	tc.RootCAs = roots
	return tc, nil
}
