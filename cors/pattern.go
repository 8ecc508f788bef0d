package cors

import (
	"errors"
	"strings"
)

// pattern is a parsed entry of Config.AllowedOriginPatterns.
//
// In the host, '*' stands for one or more label characters (letters, digits,
// '-', '_') and never for a '.', so "https://*.example.com" matches
// "https://a.example.com" but neither "https://a.b.example.com" nor
// "https://example.com". As the port, '*' stands for any port, the default
// one included. A pattern without '*' matches exactly one origin.
type pattern struct {
	scheme  string
	host    string   // normalised host text, '*' kept
	globs   []string // host labels for matching, each '*' rewritten as "?*"; nil when the host has no '*'
	port    string   // normalised as in origin; unused when anyPort
	anyPort bool
}

// String returns the normalised pattern text.
func (p pattern) String() string {
	switch {
	case p.anyPort:
		return p.scheme + "://" + p.host + ":*"
	case p.port != "":
		return p.scheme + "://" + p.host + ":" + p.port
	default:
		return p.scheme + "://" + p.host
	}
}

// parsePattern parses an origin pattern. Text without '*' is parsed exactly
// like an origin.
func parsePattern(s string) (pattern, error) {
	if !strings.Contains(s, "*") {
		o, err := parseOrigin(s)
		if err != nil {
			return pattern{}, err
		}
		return pattern{scheme: o.scheme, host: o.host, port: o.port}, nil
	}
	rest, scheme, err := cutScheme(s)
	if err != nil {
		return pattern{}, err
	}
	host, port, hasPort, err := splitHostPort(rest)
	if err != nil {
		return pattern{}, err
	}
	p := pattern{scheme: scheme}
	if hasPort && port == "*" {
		p.anyPort = true
	} else if p.port, err = normalisePort(port, hasPort, scheme); err != nil {
		return pattern{}, err
	}
	if !strings.Contains(host, "*") {
		if p.host, err = normaliseHost(host); err != nil {
			return pattern{}, err
		}
		return p, nil
	}
	if strings.HasPrefix(host, "[") {
		return pattern{}, errors.New("no wildcard allowed in an IPv6 literal")
	}
	if len(host) > 253 {
		return pattern{}, errors.New("host longer than 253 bytes")
	}
	host = asciiLower(host)
	if err := checkLabels(host, true); err != nil {
		return pattern{}, err
	}
	if strings.Contains(host, "**") {
		return pattern{}, errors.New(`"**" in host: '*' never matches across a '.', write one '*' per label`)
	}
	labels := strings.Split(host, ".")
	if err := checkWildcardSuffix(labels); err != nil {
		return pattern{}, err
	}
	p.host = host
	p.globs = make([]string, len(labels))
	for i, l := range labels {
		p.globs[i] = strings.ReplaceAll(l, "*", "?*")
	}
	return p, nil
}

// checkWildcardSuffix refuses wildcards so broad that anyone could register
// a matching name: the labels after the last one holding a '*' must be
// literal and at least two ("*.example.com", not "*.com" or "example.*"),
// or be exactly "localhost" ("http://*.localhost:*" for development).
// Public suffixes such as "co.uk" cannot be told apart here; do not write
// "https://*.co.uk".
func checkWildcardSuffix(labels []string) error {
	last := -1
	for i, l := range labels {
		if strings.Contains(l, "*") {
			last = i
		}
	}
	suffix := labels[last+1:]
	if len(suffix) >= 2 || len(suffix) == 1 && suffix[0] == "localhost" {
		return nil
	}
	return errors.New("a wildcard must be followed by at least two literal labels, as in https://*.example.com (or by localhost)")
}

// match reports whether the origin o matches the pattern.
func (p pattern) match(o origin) bool {
	if o.scheme != p.scheme || !p.anyPort && o.port != p.port {
		return false
	}
	if p.globs == nil {
		return o.host == p.host
	}
	if strings.HasPrefix(o.host, "[") {
		return false
	}
	rest := o.host
	for i, g := range p.globs {
		label := rest
		if i < len(p.globs)-1 {
			var ok bool
			if label, rest, ok = strings.Cut(rest, "."); !ok {
				return false
			}
		} else if strings.Contains(rest, ".") {
			return false
		}
		if !globMatch(g, label) {
			return false
		}
	}
	return true
}

// cspSource returns the pattern as a CSP host-source, and false when CSP
// cannot express it. CSP only knows a wildcard as the whole leftmost label
// ("*.example.com"; which CSP lets match any depth of subdomain) or as the
// whole port, and has no IPv6 literals and no '_' in host names.
func (p pattern) cspSource() (string, bool) {
	host := strings.TrimPrefix(p.host, "*.")
	if !cspHost(host) {
		return "", false
	}
	return p.String(), true
}

// cspHost reports whether h is a host name that a CSP host-source can spell:
// labels of letters, digits and '-' only.
func cspHost(h string) bool {
	if h == "" || strings.HasPrefix(h, "[") {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// globMatch matches s against pat, where '?' matches any one byte and '*'
// any run of bytes, possibly empty (so "?*" is "one or more"). The greedy
// scan with a single backtrack point runs in O(len(pat)*len(s)) at worst.
func globMatch(pat, s string) bool {
	p, i := 0, 0
	starP, starI := -1, 0
	for i < len(s) {
		switch {
		case p < len(pat) && pat[p] == '*':
			starP, starI = p, i
			p++
		case p < len(pat) && (pat[p] == '?' || pat[p] == s[i]):
			p++
			i++
		case starP >= 0:
			starI++
			p, i = starP+1, starI
		default:
			return false
		}
	}
	for p < len(pat) && pat[p] == '*' {
		p++
	}
	return p == len(pat)
}
