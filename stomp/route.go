package stomp

import (
	"fmt"
	"strings"
)

// pattern is a parsed destination pattern: segments split by "/" (and by
// "." too when the pattern has a dot, for Spring's dot-separated
// destinations such as /app/chat.{room}), where "{name}" captures one
// segment, "*" matches one segment and a final "**" matches the rest (one
// segment or more).
type pattern struct {
	text  string
	dots  bool // "." separates segments too
	segs  []string
	seps  []byte // seps[i] follows segs[i]; with rest, one more (before **)
	rest  bool   // ends in "**"
	names []string
}

// splitDest splits s (without its leading "/") into segments and the
// separators between them.
func splitDest(s string, dots bool) (segs []string, seps []byte) {
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '/' || dots && s[i] == '.' {
			segs = append(segs, s[start:i])
			seps = append(seps, s[i])
			start = i + 1
		}
	}
	return append(segs, s[start:]), seps
}

// parsePattern parses p, which must start with one of prefixes.
func parsePattern(p string, prefixes []string) (*pattern, error) {
	ok := false
	for _, pre := range prefixes {
		if strings.HasPrefix(p, pre) && len(p) > len(pre) {
			ok = true
		}
	}
	if !ok || p[0] != '/' {
		return nil, fmt.Errorf("stomp: destination pattern %q must start with one of %q and name something after it", p, prefixes)
	}
	pt := &pattern{text: p, dots: strings.Contains(p, ".")}
	pt.segs, pt.seps = splitDest(p[1:], pt.dots)
	for i, s := range pt.segs {
		switch {
		case s == "":
			return nil, fmt.Errorf("stomp: pattern %q has an empty segment", p)
		case s == "*":
		case s == "**":
			if i != len(pt.segs)-1 {
				return nil, fmt.Errorf("stomp: pattern %q may have ** only at its end", p)
			}
			pt.rest = true
			pt.segs = pt.segs[:i]
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") && len(s) > 2:
			pt.names = append(pt.names, s[1:len(s)-1])
		case strings.ContainsAny(s, "{}*"):
			return nil, fmt.Errorf("stomp: pattern %q: segment %q must be literal, {name}, * or a final **", p, s)
		}
	}
	return pt, nil
}

// isPattern reports whether a destination has wildcards.
func isPattern(dest string) bool { return strings.Contains(dest, "*") }

// match reports whether dest matches and returns the captured variables.
func (pt *pattern) match(dest string) (map[string]string, bool) {
	if len(dest) < 2 || dest[0] != '/' {
		return nil, false
	}
	segs, seps := splitDest(dest[1:], pt.dots)
	if len(segs) < len(pt.segs) || !pt.rest && len(segs) != len(pt.segs) || pt.rest && len(segs) == len(pt.segs) {
		return nil, false
	}
	for i, sep := range pt.seps {
		if seps[i] != sep {
			return nil, false
		}
	}
	if pt.rest {
		for _, s := range segs[len(pt.segs):] {
			if s == "" {
				return nil, false
			}
		}
	}
	var vars map[string]string
	for i, p := range pt.segs {
		s := segs[i]
		if s == "" {
			return nil, false
		}
		switch {
		case p == "*":
		case p[0] == '{' && p[len(p)-1] == '}':
			if vars == nil {
				vars = make(map[string]string, len(pt.names))
			}
			vars[p[1:len(p)-1]] = s
		case p != s:
			return nil, false
		}
	}
	return vars, true
}

// specificity orders patterns: more literal segments first, then fewer
// wildcards, so that /app/rooms/lobby wins over /app/rooms/{room}.
func (pt *pattern) specificity() (literal, total int) {
	for _, s := range pt.segs {
		if s != "*" && s[0] != '{' {
			literal++
		}
	}
	total = len(pt.segs)
	if !pt.rest {
		total += 1000 // an exact length beats "the rest"
	}
	return literal, total
}
