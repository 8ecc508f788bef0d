package cors

import (
	"testing"
)

func TestParsePattern(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string // normalised form; "" means rejected
	}{
		{"https://*.example.com", "https://*.example.com"},
		{"HTTPS://*.Example.COM:443", "https://*.example.com"},
		{"https://*.example.com:*", "https://*.example.com:*"},
		{"http://localhost:*", "http://localhost:*"},
		{"http://*.localhost:3000", "http://*.localhost:3000"},
		{"https://app-*.example.com", "https://app-*.example.com"},
		{"https://*-*.example.com", "https://*-*.example.com"},
		{"https://*.*.example.com", "https://*.*.example.com"},
		{"https://*.example.co.uk", "https://*.example.co.uk"},
		{"http://[::1]:*", "http://[::1]:*"},
		{"https://app.example.com", "https://app.example.com"},
		{"https://app.example.com:8443", "https://app.example.com:8443"},

		{"", ""},
		{"*", ""},
		{"*://example.com", ""},
		{"https://*", ""},
		{"https://*.com", ""},
		{"https://example.*", ""},
		{"https://*.example.*", ""},
		{"https://*.example.com.*", ""},
		{"http://*:8080", ""},
		{"https://**.example.com", ""},
		{"https://a.**.example.com", ""},
		{"https://*..example.com", ""},
		{"https://*.example.com/", ""},
		{"https://*.example.com/?x=1", ""},
		{"https://u@*.example.com", ""},
		{"https://[*::1]", ""},
		{"https://*.example.com:**", ""},
		{"https://*.example.com:8*", ""},
		{"https://*.example.com:", ""},
		{"https://*.exa mple.com", ""},
		{"https://*.bücher.example", ""},
		{"ws://*.example.com", ""},
		{"https://example.com:*:*", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			p, err := parsePattern(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("parsePattern(%q) = %q, want an error", tt.in, p)
				}
				return
			}
			if err != nil {
				t.Fatalf("parsePattern(%q): %v", tt.in, err)
			}
			if got := p.String(); got != tt.want {
				t.Fatalf("parsePattern(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestPatternMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, origin string
		want            bool
	}{
		{"https://*.example.com", "https://a.example.com", true},
		{"https://*.example.com", "https://A-b_9.Example.com", true},
		{"https://*.example.com", "https://a.example.com:443", true},
		{"https://*.example.com", "https://example.com", false},
		{"https://*.example.com", "https://a.b.example.com", false},
		{"https://*.example.com", "https://example.com.evil.com", false},
		{"https://*.example.com", "https://a.example.com.evil.com", false},
		{"https://*.example.com", "https://evilexample.com", false},
		{"https://*.example.com", "https://evil-example.com", false},
		{"https://*.example.com", "http://a.example.com", false},
		{"https://*.example.com", "https://a.example.com:8443", false},
		{"https://*.example.com", "https://[::1]", false},
		{"https://*.example.com:*", "https://a.example.com:8443", true},
		{"https://*.example.com:*", "https://a.example.com", true},
		{"https://*.example.com:8443", "https://a.example.com:8443", true},
		{"https://*.example.com:8443", "https://a.example.com", false},
		{"http://localhost:*", "http://localhost", true},
		{"http://localhost:*", "http://localhost:3000", true},
		{"http://localhost:*", "http://LOCALHOST:65535", true},
		{"http://localhost:*", "https://localhost:3000", false},
		{"http://localhost:*", "http://localhost.evil.com:3000", false},
		{"http://localhost:*", "http://evil.localhost:3000", false},
		{"http://*.localhost:*", "http://app.localhost:3000", true},
		{"https://app-*.example.com", "https://app-1.example.com", true},
		{"https://app-*.example.com", "https://app-.example.com", false},
		{"https://app-*.example.com", "https://app.example.com", false},
		{"https://app-*.example.com", "https://xapp-1.example.com", false},
		{"https://*-api.example.com", "https://a-b-api.example.com", true},
		{"https://*-api.example.com", "https://-api.example.com", false},
		{"https://*.*.example.com", "https://a.b.example.com", true},
		{"https://*.*.example.com", "https://a.example.com", false},
		{"https://*-*.example.com", "https://a-b.example.com", true},
		{"https://*-*.example.com", "https://a--b.example.com", true},
		{"https://*-*.example.com", "https://ab.example.com", false},
		{"https://*-*.example.com", "https://-b.example.com", false},
		{"https://*a*.example.com", "https://bab.example.com", true},
		{"https://*a*.example.com", "https://ab.example.com", false},
		{"https://app.example.com", "https://app.example.com", true},
		{"https://app.example.com", "https://APP.example.com:443", true},
		{"https://app.example.com", "https://app.example.com:8443", false},
		{"http://[::1]:*", "http://[0::1]:3000", true},
		{"http://[::1]:*", "http://[::2]:3000", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.origin, func(t *testing.T) {
			t.Parallel()
			p, err := parsePattern(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			o, err := parseOrigin(tt.origin)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.match(o); got != tt.want {
				t.Fatalf("%q matches %q = %v, want %v", tt.pattern, tt.origin, got, tt.want)
			}
		})
	}
}

func TestGlobMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pat, s string
		want   bool
	}{
		{"", "", true},
		{"", "a", false},
		{"a", "a", true},
		{"a", "b", false},
		{"*", "", true},
		{"*", "abc", true},
		{"?*", "", false},
		{"?*", "a", true},
		{"?*", "abc", true},
		{"a?*b", "ab", false},
		{"a?*b", "axb", true},
		{"a?*b", "axxbxb", true},
		{"a?*b", "axxbx", false},
		{"?*-?*", "a-", false},
		{"?*-?*", "a--", true},
		{"?*?*?*", "ab", false},
		{"?*?*?*", "abc", true},
		{"?*aaa", "aaaa", true},
		{"?*aaa", "aaa", false},
	}
	for _, tt := range tests {
		if got := globMatch(tt.pat, tt.s); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.pat, tt.s, got, tt.want)
		}
	}
}

func TestCSPSource(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern string
		want    string // "" means not expressible
	}{
		{"https://*.example.com", "https://*.example.com"},
		{"https://*.example.com:*", "https://*.example.com:*"},
		{"http://localhost:*", "http://localhost:*"},
		{"https://app.example.com:8443", "https://app.example.com:8443"},
		{"https://app-*.example.com", ""},
		{"https://*.*.example.com", ""},
		{"https://*.under_score.example", ""},
		{"http://[::1]:*", ""},
	}
	for _, tt := range tests {
		p, err := parsePattern(tt.pattern)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := p.cspSource()
		if !ok {
			got = ""
		}
		if got != tt.want {
			t.Errorf("cspSource(%q) = %q, %v; want %q", tt.pattern, got, ok, tt.want)
		}
	}
}
