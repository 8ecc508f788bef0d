package redis

import (
	"fmt"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// NewClient returns a client for addr, which is "host:port" or a redis://
// (rediss:// for TLS) URL with optional user, password and database, as
// the examples' -redis flag takes it. It does not connect yet.
func NewClient(addr string) (*goredis.Client, error) {
	if addr == "" {
		return nil, fmt.Errorf("cluster: empty Redis address: give host:port or a redis:// URL")
	}
	if strings.Contains(addr, "://") {
		o, err := goredis.ParseURL(addr)
		if err != nil {
			return nil, fmt.Errorf("cluster: Redis URL %q: %w", addr, err)
		}
		return goredis.NewClient(o), nil
	}
	return goredis.NewClient(&goredis.Options{Addr: addr}), nil
}
