package sockjs_test

import (
	"net/http"
	"testing"
)

// R-GREET-1: the greeting at the bare prefix and with a trailing slash.
func TestProtocolGreeting(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, path := range []string{"/echo", "/echo/"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			r := f.get(t, path)
			expectBody(t, r, http.StatusOK, greetingBody)
			expectContentType(t, r, "text/plain;charset=UTF-8")
			expectNoCookie(t, r)
		})
	}
}

// R-GREET-2: other paths near the greeting are not found.
func TestProtocolGreetingNotFound(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, suffix := range []string{"/a", "/a.html", "//", "///", "/a/a", "/a/a/", "/a/"} {
		t.Run(suffix, func(t *testing.T) {
			t.Parallel()
			expect404(t, f.get(t, "/echo"+suffix))
		})
	}
}
