package cors

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestParseFetchSite(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		vals []string // Sec-Fetch-Site header lines; nil means none
		want FetchSite
	}{
		{"absent", nil, FetchSiteAbsent},
		{"empty", []string{""}, FetchSiteAbsent},
		{"blank", []string{" \t"}, FetchSiteAbsent},
		{"same-origin", []string{"same-origin"}, FetchSiteSameOrigin},
		{"same-site", []string{"same-site"}, FetchSiteSameSite},
		{"cross-site", []string{"cross-site"}, FetchSiteCrossSite},
		{"none", []string{"none"}, FetchSiteNone},
		{"padded", []string{" cross-site\t"}, FetchSiteCrossSite},
		{"upper case", []string{"Cross-Site"}, FetchSiteInvalid},
		{"unknown", []string{"cross-origin"}, FetchSiteInvalid},
		{"list", []string{"same-origin, cross-site"}, FetchSiteInvalid},
		{"parameter", []string{"same-origin;x=1"}, FetchSiteInvalid},
		{"two headers", []string{"same-origin", "same-origin"}, FetchSiteInvalid},
		{"two, one empty", []string{"", "same-origin"}, FetchSiteInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.vals {
				h.Add("Sec-Fetch-Site", v)
			}
			if got := ParseFetchSite(h); got != tt.want {
				t.Fatalf("ParseFetchSite(%q) = %v, want %v", tt.vals, got, tt.want)
			}
		})
	}
}

func TestFetchSiteString(t *testing.T) {
	t.Parallel()
	for s, want := range map[FetchSite]string{
		FetchSiteAbsent: "", FetchSiteSameOrigin: "same-origin", FetchSiteSameSite: "same-site",
		FetchSiteCrossSite: "cross-site", FetchSiteNone: "none", FetchSiteInvalid: "invalid", 200: "invalid",
	} {
		if got := s.String(); got != want {
			t.Errorf("FetchSite(%d).String() = %q, want %q", s, got, want)
		}
		if s < FetchSiteInvalid && s != FetchSiteAbsent {
			h := http.Header{"Sec-Fetch-Site": {want}}
			if got := ParseFetchSite(h); got != s {
				t.Errorf("ParseFetchSite(%q) = %v, want %v", want, got, s)
			}
		}
	}
}

// The configurations of the fetch-metadata matrix.
var fetchConfigs = []struct {
	name       string
	cfg        Config
	restricted bool // the rule applies (neither AllowAnyOrigin nor Disabled)
}{
	{"default", Config{}, true},
	{"listed", Config{AllowedOrigins: []string{"https://app.example.com"}, AllowedOriginPatterns: []string{"https://*.example.com"}}, true},
	{"AllowNullOrigin", Config{AllowNullOrigin: true}, true},
	{"AllowAnyOrigin", Config{AllowAnyOrigin: true}, false},
	{"Disabled", Config{Disabled: true}, false},
}

// refusedSites are the Sec-Fetch-Site values refused without Origin.
var refusedSites = []string{"cross-site", "same-site", "bogus"}

// Every configuration × Sec-Fetch-Site value × Origin case × originless:
// refused exactly when origins are restricted, the endpoint is not opened
// to requests without Origin, no Origin is sent and Sec-Fetch-Site is
// cross-site, same-site or unknown.
func TestCheckFetchMetadata(t *testing.T) {
	t.Parallel()
	sites := []string{"", "same-origin", "same-site", "cross-site", "none", "bogus"}
	origins := []struct {
		name string
		vals []string
	}{
		{"no Origin", nil},
		{"empty Origin", []string{""}},
		{"same Origin", []string{"https://sockjs.example.com"}},
		{"listed Origin", []string{"https://app.example.com"}},
		{"foreign Origin", []string{"https://evil.example.org"}},
		{"null Origin", []string{"null"}},
		{"two Origins", []string{"https://a.example.com", "https://b.example.com"}},
	}
	for _, fc := range fetchConfigs {
		p := mustNew(t, fc.cfg)
		for _, site := range sites {
			for _, o := range origins {
				for _, originless := range []bool{false, true} {
					r := withTLS(newRequest(http.MethodGet, "sockjs.example.com", map[string]string{"Sec-Fetch-Site": site}))
					for _, v := range o.vals {
						r.Header.Add("Origin", v)
					}
					absent := len(o.vals) == 0 || len(o.vals) == 1 && o.vals[0] == ""
					want := !(fc.restricted && !originless && absent && slices.Contains(refusedSites, site))
					if got := p.CheckFetchMetadata(r, originless); got != want {
						t.Errorf("%s, Sec-Fetch-Site %q, %s, originless %v: allowed = %v, want %v",
							fc.name, site, o.name, originless, got, want)
					}
				}
			}
		}
	}
}

// ApplyFetchMetadata writes a 403 with a plain-text body for a refusal,
// nothing else for an allowed request, and names Sec-Fetch-Site in Vary
// exactly when the decision depended on it, keeping Vary values set before.
func TestApplyFetchMetadata(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		cfg        Config
		origin     string
		site       string
		originless bool
		priorVary  string
		wantStatus int // 0: allowed, nothing written
		wantVary   []string
	}{
		{"cross-site refused", Config{}, "", "cross-site", false, "", http.StatusForbidden, []string{"Sec-Fetch-Site"}},
		{"same-site refused", Config{AllowedOriginPatterns: []string{"https://*.example.com"}}, "", "same-site", false, "", http.StatusForbidden, []string{"Sec-Fetch-Site"}},
		{"prior Vary kept", Config{}, "", "cross-site", false, "Accept-Encoding", http.StatusForbidden, []string{"Accept-Encoding", "Sec-Fetch-Site"}},
		{"Vary * kept alone", Config{}, "", "cross-site", false, "*", http.StatusForbidden, []string{"*"}},
		{"same-origin allowed", Config{}, "", "same-origin", false, "", 0, []string{"Sec-Fetch-Site"}},
		{"no metadata allowed", Config{}, "", "", false, "", 0, []string{"Sec-Fetch-Site"}},
		{"with Origin: not this check's business", Config{}, "https://evil.example.org", "cross-site", false, "", 0, nil},
		{"originless endpoint", Config{}, "", "cross-site", true, "", 0, nil},
		{"AllowAnyOrigin", Config{AllowAnyOrigin: true}, "", "cross-site", false, "", 0, nil},
		{"Disabled", Config{Disabled: true}, "", "cross-site", false, "", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := mustNew(t, tt.cfg)
			r := newRequest(http.MethodGet, "sockjs.example.com", map[string]string{"Origin": tt.origin, "Sec-Fetch-Site": tt.site})
			w := httptest.NewRecorder()
			if tt.priorVary != "" {
				w.Header().Set("Vary", tt.priorVary)
			}
			ok := p.ApplyFetchMetadata(w, r, tt.originless)
			if ok != (tt.wantStatus == 0) {
				t.Fatalf("ApplyFetchMetadata = %v, want %v", ok, tt.wantStatus == 0)
			}
			if got := w.Header().Values("Vary"); !slices.Equal(got, tt.wantVary) {
				t.Errorf("Vary %q, want %q", got, tt.wantVary)
			}
			if tt.wantStatus == 0 {
				if w.Code != http.StatusOK || w.Body.Len() != 0 || w.Header().Get("Access-Control-Allow-Origin") != "" {
					t.Fatalf("allowed request got %d %q %v; want nothing written", w.Code, w.Body, w.Header())
				}
				return
			}
			if w.Code != tt.wantStatus || strings.TrimSpace(w.Body.String()) != refusedFetchBody {
				t.Fatalf("got %d %q, want %d %q", w.Code, w.Body, tt.wantStatus, refusedFetchBody)
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type %q, want text/plain", ct)
			}
			if w.Header().Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("refusal carries Access-Control-Allow-Origin")
			}
		})
	}
}

// FuzzFetchMetadata feeds arbitrary Origin and Sec-Fetch-Site values (a
// newline separates several header lines) and checks the decision against
// an independent statement of the rule: with origins restricted, a request
// without Origin goes on only when its Sec-Fetch-Site is absent, empty,
// "same-origin" or "none" (one header, exact token after trimming), and a
// request with Origin is left to Policy.Check. ApplyFetchMetadata must
// agree and answer 403 exactly when refusing.
func FuzzFetchMetadata(f *testing.F) {
	for _, s := range [][2]string{
		{"", "cross-site"}, {"", "same-site"}, {"", "same-origin"}, {"", "none"}, {"", ""},
		{"https://evil.example.org", "cross-site"}, {"null", "cross-site"}, {"", " none "},
		{"", "same-origin\nsame-origin"}, {"\n", "cross-site"}, {"", "CROSS-SITE"}, {"", "\tsame-origin\t"},
	} {
		f.Add(s[0], s[1])
	}
	policies := []*Policy{mustNew(f, Config{}), mustNew(f, Config{AllowAnyOrigin: true}), mustNew(f, Config{Disabled: true})}
	f.Fuzz(func(t *testing.T, origin, site string) {
		h := http.Header{}
		lines := func(s string) []string {
			if s == "" {
				return nil
			}
			return strings.Split(s, "\n")
		}
		h["Origin"] = lines(origin)
		h["Sec-Fetch-Site"] = lines(site)
		if h["Origin"] == nil {
			delete(h, "Origin")
		}
		if h["Sec-Fetch-Site"] == nil {
			delete(h, "Sec-Fetch-Site")
		}
		r := &http.Request{Method: http.MethodGet, Host: "sockjs.example.com", Header: h}

		sites := h["Sec-Fetch-Site"]
		siteOK := len(sites) == 0
		if len(sites) == 1 {
			switch v := strings.Trim(sites[0], " \t"); v {
			case "", "same-origin", "none":
				siteOK = true
			}
		}
		origins := h["Origin"]
		withOrigin := len(origins) > 1 || len(origins) == 1 && origins[0] != ""

		for i, p := range policies {
			for _, originless := range []bool{false, true} {
				want := i > 0 || originless || withOrigin || siteOK
				if got := p.CheckFetchMetadata(r, originless); got != want {
					t.Fatalf("policy %d, Origin %q, Sec-Fetch-Site %q, originless %v: allowed %v, want %v",
						i, origins, sites, originless, got, want)
				}
				w := httptest.NewRecorder()
				if got := p.ApplyFetchMetadata(w, r, originless); got != want || (w.Code == http.StatusForbidden) == want {
					t.Fatalf("ApplyFetchMetadata = %v with status %d, want allowed %v", got, w.Code, want)
				}
			}
		}
	})
}
