package cors

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// Config.Check widens the lists for origins they refuse, and is asked
// about nothing else.
func TestConfigCheck(t *testing.T) {
	t.Parallel()
	tenants := func(r *http.Request) bool { return strings.HasSuffix(r.Header.Get("Origin"), ".tenants.example") }
	tests := []struct {
		name   string
		cfg    Config
		origin []string
		want   bool
		asked  bool
	}{
		{"refused by the lists, allowed by Check", Config{}, []string{"https://a.tenants.example"}, true, true},
		{"refused by both", Config{}, []string{"https://evil.com"}, false, true},
		{"null: asked too", Config{}, []string{"null"}, false, true},
		{"listed: not asked", Config{AllowedOrigins: []string{"https://a.tenants.example"}}, []string{"https://a.tenants.example"}, true, false},
		{"same origin: not asked", Config{}, []string{"http://example.com"}, true, false},
		{"no origin: not asked", Config{}, nil, true, false},
		{"two origins: not asked, refused", Config{}, []string{"https://a.tenants.example", "https://b.tenants.example"}, false, false},
		{"disabled: not asked", Config{Disabled: true}, []string{"https://evil.com"}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var asked atomic.Int32
			tt.cfg.Check = func(r *http.Request) bool { asked.Add(1); return tenants(r) }
			p := mustNew(t, tt.cfg)
			r := newRequest("GET", "example.com", nil)
			r.Header["Origin"] = tt.origin
			d := p.Check(r)
			if d.Allowed != tt.want {
				t.Errorf("Check: Allowed = %v, want %v", d.Allowed, tt.want)
			}
			if got := asked.Load() > 0; got != tt.asked {
				t.Errorf("Config.Check asked = %v, want %v", got, tt.asked)
			}
			if p.Restricted() != !tt.cfg.Disabled {
				t.Errorf("Restricted() = %v: Check must not change it", p.Restricted())
			}
		})
	}
}
