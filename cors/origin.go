package cors

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// maxOriginLen bounds the text parsed as an origin. Real origins are far
// shorter (a host name is at most 253 bytes); the bound keeps hostile headers
// cheap to refuse.
const maxOriginLen = 512

// origin is a parsed web origin in normalised form: the (scheme, host, port)
// triple that a browser serialises into the Origin header.
type origin struct {
	scheme string // "http" or "https"
	host   string // lower case; an IPv6 literal in canonical form inside brackets
	port   string // decimal without leading zeros; "" for the scheme's default port
}

// String returns the normalised serialisation, scheme://host[:port], with the
// scheme's default port left out.
func (o origin) String() string {
	if o.port == "" {
		return o.scheme + "://" + o.host
	}
	return o.scheme + "://" + o.host + ":" + o.port
}

// parseOrigin parses s as scheme://host[:port] and normalises it: scheme and
// host lowercased, IPv6 literals canonical, the default port (80 for http,
// 443 for https) dropped, leading zeros of a port dropped. Only http and
// https are accepted: they are the only schemes whose origins we can compare
// and configure (see the package documentation).
func parseOrigin(s string) (origin, error) {
	rest, scheme, err := cutScheme(s)
	if err != nil {
		return origin{}, err
	}
	host, port, hasPort, err := splitHostPort(rest)
	if err != nil {
		return origin{}, err
	}
	if host, err = normaliseHost(host); err != nil {
		return origin{}, err
	}
	if port, err = normalisePort(port, hasPort, scheme); err != nil {
		return origin{}, err
	}
	return origin{scheme: scheme, host: host, port: port}, nil
}

// cutScheme checks the length, splits s at "://", checks the scheme and
// checks that the remainder is a bare authority without userinfo.
func cutScheme(s string) (rest, scheme string, err error) {
	if len(s) > maxOriginLen {
		return "", "", fmt.Errorf("longer than %d bytes", maxOriginLen)
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return "", "", errors.New(`missing "://" after the scheme`)
	}
	scheme = asciiLower(scheme)
	switch scheme {
	case "http", "https":
	case "ws", "wss":
		return "", "", fmt.Errorf("scheme %q is never an origin: browsers send the page's http or https origin, also in a WebSocket handshake", scheme)
	case "*":
		return "", "", errors.New("the scheme cannot be a wildcard: list the http and https forms separately")
	default:
		return "", "", fmt.Errorf("scheme %q not supported, want http or https", scheme)
	}
	if i := strings.IndexAny(rest, "/?#@\\"); i >= 0 {
		switch rest[i] {
		case '@':
			return "", "", errors.New("userinfo (user@) not allowed")
		case '?':
			return "", "", errors.New("query not allowed")
		case '#':
			return "", "", errors.New("fragment not allowed")
		default:
			return "", "", errors.New("path not allowed (an origin has no trailing slash)")
		}
	}
	return rest, scheme, nil
}

// splitHostPort splits an authority into host and port text. An IPv6 literal
// must be in brackets, which stay part of host. hasPort reports whether a
// ':' separator was present (so "host:" is told apart from "host").
func splitHostPort(hp string) (host, port string, hasPort bool, err error) {
	if strings.HasPrefix(hp, "[") {
		end := strings.IndexByte(hp, ']')
		if end < 0 {
			return "", "", false, errors.New("unclosed '[' in IPv6 literal")
		}
		host, rest := hp[:end+1], hp[end+1:]
		if rest == "" {
			return host, "", false, nil
		}
		if rest[0] != ':' {
			return "", "", false, errors.New("unexpected text after IPv6 literal")
		}
		return host, rest[1:], true, nil
	}
	host, port, hasPort = strings.Cut(hp, ":")
	if strings.IndexByte(port, ':') >= 0 {
		return "", "", false, errors.New("IPv6 literal must be in brackets")
	}
	return host, port, hasPort, nil
}

// normaliseHost validates and lowercases a host: either a bracketed IPv6
// literal (no zone) or dot-separated labels of ASCII letters, digits, '-' and
// '_' (IPv4 addresses included). Internationalised names must be given in
// their punycode (xn--) form, which is what browsers send.
func normaliseHost(h string) (string, error) {
	if h == "" {
		return "", errors.New("empty host")
	}
	if h[0] == '[' {
		if len(h) < 2 || h[len(h)-1] != ']' {
			return "", errors.New("bad IPv6 literal")
		}
		a, err := netip.ParseAddr(h[1 : len(h)-1])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", errors.New("bad IPv6 literal")
		}
		return "[" + a.String() + "]", nil
	}
	if len(h) > 253 {
		return "", errors.New("host longer than 253 bytes")
	}
	h = asciiLower(h)
	if err := checkLabels(h, false); err != nil {
		return "", err
	}
	return h, nil
}

// checkLabels checks the dot-separated labels of a lowercased host name;
// wild allows '*' as a label character (patterns).
func checkLabels(h string, wild bool) error {
	for label := range strings.SplitSeq(h, ".") {
		if label == "" {
			return errors.New("empty label in host (leading, trailing or double dot)")
		}
		if len(label) > 63 {
			return errors.New("host label longer than 63 bytes")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !isLabelByte(c) && (!wild || c != '*') {
				if c >= 0x80 {
					return errors.New("non-ASCII host: use the punycode (xn--) form")
				}
				return fmt.Errorf("character %q not allowed in host", c)
			}
		}
	}
	return nil
}

// isLabelByte reports whether c may appear in a (lowercased) host label.
func isLabelByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// normalisePort validates a port (1 to 65535, at most five digits) and
// returns it without leading zeros, or "" when it is the scheme's default.
func normalisePort(p string, hasPort bool, scheme string) (string, error) {
	if !hasPort {
		return "", nil
	}
	if p == "" || len(p) > 5 {
		return "", errors.New("port must be 1 to 5 digits")
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return "", errors.New("port must be 1 to 5 digits")
		}
	}
	n, _ := strconv.Atoi(p) // five digits always fit
	if n == 0 || n > 65535 {
		return "", errors.New("port out of range 1-65535")
	}
	if n == defaultPort(scheme) {
		return "", nil
	}
	return strconv.Itoa(n), nil
}

// defaultPort returns the port implied by a scheme without an explicit one.
func defaultPort(scheme string) int {
	if scheme == "https" {
		return 443
	}
	return 80
}

// asciiLower lowercases ASCII letters only. strings.ToLower would also fold
// some non-ASCII runes into ASCII (the Kelvin sign U+212A becomes 'k'), which
// must not make a hostile host compare equal to a configured one.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
