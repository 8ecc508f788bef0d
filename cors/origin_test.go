package cors

import (
	"strings"
	"testing"
)

func TestParseOrigin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string // normalised form; "" means the input must be rejected
	}{
		{"https://app.example.com", "https://app.example.com"},
		{"HTTPS://App.Example.COM", "https://app.example.com"},
		{"https://app.example.com:443", "https://app.example.com"},
		{"http://app.example.com:80", "http://app.example.com"},
		{"http://app.example.com:443", "http://app.example.com:443"},
		{"https://app.example.com:80", "https://app.example.com:80"},
		{"http://localhost:03000", "http://localhost:3000"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"http://[::1]:8080", "http://[::1]:8080"},
		{"http://[0:0:0:0:0:0:0:1]", "http://[::1]"},
		{"https://[2001:DB8::A]:443", "https://[2001:db8::a]"},
		{"http://[::ffff:1.2.3.4]", "http://[::ffff:1.2.3.4]"},
		{"http://under_score.example", "http://under_score.example"},
		{"https://xn--bcher-kva.example", "https://xn--bcher-kva.example"},
		{"https://" + strings.Repeat("a", 63) + ".com", "https://" + strings.Repeat("a", 63) + ".com"},

		{"", ""},
		{"null", ""},
		{"example.com", ""},
		{"//example.com", ""},
		{"ftp://example.com", ""},
		{"ws://example.com", ""},
		{"wss://example.com", ""},
		{"chrome-extension://abcdef", ""},
		{"*://example.com", ""},
		{"https://", ""},
		{"https://app.example.com/", ""},
		{"https://app.example.com/path", ""},
		{"https://app.example.com?x=1", ""},
		{"https://app.example.com#f", ""},
		{"https://user@app.example.com", ""},
		{"https://user:pw@app.example.com", ""},
		{`https://app.example.com\`, ""},
		{"https://evil.com/?x=.example.com", ""},
		{"https://app.example.com:", ""},
		{"https://app.example.com:0", ""},
		{"https://app.example.com:65536", ""},
		{"https://app.example.com:123456", ""},
		{"https://app.example.com:-1", ""},
		{"https://app.example.com:8a", ""},
		{"https://app.example.com:80:80", ""},
		{"https://::1", ""},
		{"https://[::1", ""},
		{"https://[::1]x", ""},
		{"https://[1.2.3.4]", ""},
		{"https://[fe80::1%25eth0]", ""},
		{"https://[]", ""},
		{"https://exa mple.com", ""},
		{"https://example..com", ""},
		{"https://.example.com", ""},
		{"https://example.com.", ""},
		{"https://bücher.example", ""},
		{"https://exampl\u212a.com", ""}, // Kelvin sign must not fold to 'k'
		{"https://*.example.com", ""},
		{"https://" + strings.Repeat("a", 64) + ".com", ""},
		{"https://" + strings.Repeat("a.", 127) + "com", ""},
		{"https://" + strings.Repeat("a", maxOriginLen), ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			o, err := parseOrigin(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("parseOrigin(%q) = %q, want an error", tt.in, o)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseOrigin(%q): %v", tt.in, err)
			}
			if got := o.String(); got != tt.want {
				t.Fatalf("parseOrigin(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSameOrigin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		origin string
		host   string
		tls    bool
		xfp    string
		want   bool
	}{
		{"plain", "http://example.com", "example.com", false, "", true},
		{"host case", "http://example.com", "EXAMPLE.com", false, "", true},
		{"explicit default port in host", "http://example.com", "example.com:80", false, "", true},
		{"https origin, scheme unknown", "https://example.com", "example.com", false, "", true},
		{"https origin, host :443, scheme unknown", "https://example.com", "example.com:443", false, "", true},
		{"http origin, host :443, scheme unknown", "http://example.com", "example.com:443", false, "", false},
		{"other port", "http://example.com:8080", "example.com", false, "", false},
		{"other port in host", "http://example.com", "example.com:8080", false, "", false},
		{"same explicit port", "http://example.com:8080", "example.com:8080", false, "", true},
		{"other host", "http://example.org", "example.com", false, "", false},
		{"suffix host", "http://evil-example.com", "example.com", false, "", false},
		{"tls, https origin", "https://example.com", "example.com", true, "", true},
		{"tls, http origin", "http://example.com", "example.com", true, "", false},
		{"tls wins over xfp", "http://example.com", "example.com", true, "http", false},
		{"xfp https", "https://example.com", "example.com", false, "https", true},
		{"xfp https, http origin", "http://example.com", "example.com", false, "https", false},
		{"xfp list", "https://example.com", "example.com", false, "HTTPS, http", true},
		{"xfp wss", "https://example.com", "example.com", false, "wss", true},
		{"xfp http, host :443", "https://example.com", "example.com:443", false, "http", false},
		{"xfp garbage ignored", "https://example.com", "example.com", false, "gopher", true},
		{"ipv6", "http://[::1]:8080", "[::1]:8080", false, "", true},
		{"ipv6 non-canonical", "http://[0:0::1]:8080", "[::1]:8080", false, "", true},
		{"ipv6 other port", "http://[::1]:8080", "[::1]:8081", false, "", false},
		{"empty host", "http://example.com", "", false, "", false},
		{"bad host", "http://example.com", "example.com:x", false, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := parseOrigin(tt.origin)
			if err != nil {
				t.Fatal(err)
			}
			r := newRequest("GET", tt.host, map[string]string{"X-Forwarded-Proto": tt.xfp})
			if tt.tls {
				r = withTLS(r)
			}
			if got := sameOrigin(o, r); got != tt.want {
				t.Fatalf("sameOrigin(%q, Host %q) = %v, want %v", tt.origin, tt.host, got, tt.want)
			}
		})
	}
}

func TestASCIILower(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":             "",
		"abc":          "abc",
		"AbC-9":        "abc-9",
		"K\u212a":      "k\u212a",
		"\xffA":        "\xffa",
		"HTTPS://X.Y/": "https://x.y/",
	} {
		if got := asciiLower(in); got != want {
			t.Errorf("asciiLower(%q) = %q, want %q", in, got, want)
		}
	}
}
