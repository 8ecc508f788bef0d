package stomp

import (
	"fmt"
	"strings"
)

// pattern is a parsed application destination pattern: segments split by
// "/", where "{name}" captures one segment, "*" matches one segment and a
// final "**" matches the rest (one segment or more).
type pattern struct {
	text  string
	segs  []string
	rest  bool // ends in "**"
	names []string
}

func parsePattern(p string) (*pattern, error) {
	if !strings.HasPrefix(p, AppPrefix) || len(p) == len(AppPrefix) {
		return nil, fmt.Errorf("stomp: application destination pattern %q must start with %q and name something after it", p, AppPrefix)
	}
	pt := &pattern{text: p, segs: strings.Split(p[1:], "/")}
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

// match reports whether dest matches and returns the captured variables.
func (pt *pattern) match(dest string) (map[string]string, bool) {
	if len(dest) < 2 || dest[0] != '/' {
		return nil, false
	}
	segs := strings.Split(dest[1:], "/")
	if len(segs) < len(pt.segs) || !pt.rest && len(segs) != len(pt.segs) || pt.rest && len(segs) == len(pt.segs) {
		return nil, false
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
