package sockjs_test

// Subresource Integrity of the sockjs-client script: the default URL's
// hash, Options.SockJSIntegrity, and the iframe page's script tag.

import (
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sockline/sockline/sockjs"
)

// cdnURL splits a jsDelivr npm URL into package version and file path.
var cdnURL = regexp.MustCompile(`^https://cdn\.jsdelivr\.net/npm/sockjs-client@([0-9]+\.[0-9]+\.[0-9]+)/(dist/[a-z.]+\.js)$`)

// DefaultSockJSIntegrity is the hash of the file DefaultSockJSURL names.
// jsDelivr serves an npm package's files as published, so that file is
// node_modules' copy when package.json pins the same version (the e2e
// suite's, installed by npm ci, which checks the package against
// package-lock.json's sha512). Bumping the URL's version without the hash,
// or package.json without the URL, fails here.
func TestDefaultSockJSIntegrityIsTheFilesHash(t *testing.T) {
	m := cdnURL.FindStringSubmatch(sockjs.DefaultSockJSURL)
	if m == nil {
		t.Fatalf("DefaultSockJSURL %q is not a jsDelivr npm URL of sockjs-client with an exact version; check its hash another way and update this test", sockjs.DefaultSockJSURL)
	}
	version, file := m[1], m[2]
	root := ".."
	var pkg struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	readJSON(t, filepath.Join(root, "package.json"), &pkg)
	if got := pkg.DevDependencies["sockjs-client"]; got != version {
		t.Fatalf("package.json pins sockjs-client %q; DefaultSockJSURL names %s: keep them the same version", got, version)
	}
	var lock struct {
		Packages map[string]struct{ Version string } `json:"packages"`
	}
	readJSON(t, filepath.Join(root, "package-lock.json"), &lock)
	if got := lock.Packages["node_modules/sockjs-client"].Version; got != version {
		t.Fatalf("package-lock.json has sockjs-client %q; DefaultSockJSURL names %s", got, version)
	}

	dir := filepath.Join(root, "node_modules", "sockjs-client")
	var installed struct{ Version string }
	if _, err := os.Stat(filepath.Join(dir, "package.json")); errors.Is(err, os.ErrNotExist) {
		if os.Getenv("CI") != "" {
			t.Fatalf("no %s: CI runs npm ci before the Go tests", dir)
		}
		t.Skipf("no %s: run npm ci to check DefaultSockJSIntegrity against the package", dir)
	}
	readJSON(t, filepath.Join(dir, "package.json"), &installed)
	if installed.Version != version {
		t.Fatalf("node_modules has sockjs-client %s, not %s: run npm ci", installed.Version, version)
	}
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(file)))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha512.Sum384(b)
	if want := "sha384-" + base64.StdEncoding.EncodeToString(sum[:]); sockjs.DefaultSockJSIntegrity != want {
		t.Fatalf("DefaultSockJSIntegrity = %q; sockjs-client@%s/%s hashes to %q", sockjs.DefaultSockJSIntegrity, version, file, want)
	}
}

// The README's page loads the default URL with its hash: the two are
// changed together there too.
func TestReadmeSockJSIntegrity(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	tag := regexp.MustCompile(`<script src="` + regexp.QuoteMeta(sockjs.DefaultSockJSURL) + `"\s+integrity="` + regexp.QuoteMeta(sockjs.DefaultSockJSIntegrity) + `"\s+crossorigin="anonymous"></script>`)
	if n, m := strings.Count(string(b), "sockjs-client@"), len(tag.FindAll(b, -1)); m == 0 || n != m {
		t.Fatalf("README.md names sockjs-client@ %d times, %d of them in a script tag with DefaultSockJSURL and DefaultSockJSIntegrity", n, m)
	}
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// The default hash is one Validate accepts, and it goes with the default
// URL only: given or implied, the default URL gets it; another URL gets
// its own hash or none.
func TestSockJSScript(t *testing.T) {
	if !strings.HasPrefix(sockjs.DefaultSockJSIntegrity, "sha384-") {
		t.Fatalf("DefaultSockJSIntegrity %q is not SHA-384", sockjs.DefaultSockJSIntegrity)
	}
	o := sockjs.Options{SockJSURL: sockjs.DefaultSockJSURL, SockJSIntegrity: sockjs.DefaultSockJSIntegrity}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	const own, ownHash = "/static/sockjs.min.js", "sha256-Hg830HNmYZawhI/X2A1SUmjVrfR+oexFljLwW7+OH1Q="
	for _, c := range []struct {
		o                   sockjs.Options
		wantURL, wantIntegr string
	}{
		{sockjs.Options{}, sockjs.DefaultSockJSURL, sockjs.DefaultSockJSIntegrity},
		{sockjs.Options{SockJSURL: sockjs.DefaultSockJSURL}, sockjs.DefaultSockJSURL, sockjs.DefaultSockJSIntegrity},
		{sockjs.Options{SockJSURL: sockjs.DefaultSockJSURL, SockJSIntegrity: ownHash}, sockjs.DefaultSockJSURL, ownHash},
		{sockjs.Options{SockJSURL: own}, own, ""},
		{sockjs.Options{SockJSURL: own, SockJSIntegrity: ownHash}, own, ownHash},
	} {
		if u, i := c.o.SockJSScript(); u != c.wantURL || i != c.wantIntegr {
			t.Errorf("%+v: SockJSScript() = %q, %q; want %q, %q", c.o, u, i, c.wantURL, c.wantIntegr)
		}
	}
}

// Validate takes Subresource Integrity metadata and nothing else, and a
// hash only with the URL it is the hash of.
func TestValidateSockJSIntegrity(t *testing.T) {
	const (
		h256 = "sha256-Hg830HNmYZawhI/X2A1SUmjVrfR+oexFljLwW7+OH1Q="
		h384 = sockjs.DefaultSockJSIntegrity
		h512 = "sha512-1QvjE7BtotQjkq8PxLeF6P46gEpBRXuskzIVgjFpekzFVF4yjRgrQvTG1MTOJ3yQgvTteKAcO7DSZI92+u/yZw=="
	)
	for _, good := range []string{"", h256, h384, h512, h384 + " " + h512} {
		o := sockjs.Options{SockJSURL: "https://cdn.example/sockjs.min.js", SockJSIntegrity: good}
		if err := o.Validate(); err != nil {
			t.Errorf("SockJSIntegrity %q refused: %v", good, err)
		}
	}
	b64 := strings.TrimPrefix(h384, "sha384-")
	for _, bad := range []string{
		"sha384-",            // no digest
		"sha384-" + b64[:60], // truncated
		"sha256-" + b64,      // a SHA-384 digest named SHA-256
		"sha512-" + b64,      // and SHA-512
		"SHA384-" + b64,      // browsers know the lower-case names only
		"md5-" + b64,         // not an SRI algorithm
		"sha1-" + b64,        // nor SHA-1
		b64,                  // no algorithm
		"sha384:" + b64,      // no dash
		" " + h384,           // spaces around
		h384 + " ",           // or after
		h384 + "  " + h256,   // two spaces between hashes
		h384 + "?opt",        // options are refused
		"sha256-" + strings.TrimRight(strings.TrimPrefix(h256, "sha256-"), "="), // padding missing
		"sha384-" + strings.NewReplacer("+", "-", "/", "_").Replace(b64),        // URL alphabet
		"sha384-" + b64[:32] + "\n" + b64[32:],                                  // a line break
		`sha384-` + b64 + `" onload="alert(1)`,                                  // markup
	} {
		o := sockjs.Options{SockJSURL: "https://cdn.example/sockjs.min.js", SockJSIntegrity: bad}
		err := o.Validate()
		if err == nil {
			t.Errorf("SockJSIntegrity %q accepted", bad)
			continue
		}
		if !errors.Is(err, sockjs.ErrInvalidOptions) || !strings.Contains(err.Error(), "SockJSIntegrity") || !strings.Contains(err.Error(), "sha384-") {
			t.Errorf("SockJSIntegrity %q: error %q does not name the field and the form it wants", bad, err)
		}
	}
	// A hash without a URL would be put on the default URL, whose file it
	// is not the hash of.
	o := sockjs.Options{SockJSIntegrity: h256}
	if err := o.Validate(); err == nil || !errors.Is(err, sockjs.ErrInvalidOptions) || !strings.Contains(err.Error(), "SockJSURL") {
		t.Errorf("SockJSIntegrity without SockJSURL: %v", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Errorf("NewHandler took an invalid SockJSIntegrity")
			}
		}()
		sockjs.NewHandler(sockjs.Options{SockJSURL: "/s.js", SockJSIntegrity: "sha384-x"}, nil)
	}()
}

// The iframe page loads the default URL with its hash, an application's
// URL with the application's hash, and an application's URL without a
// hash as the protocol's page has it (no integrity, no crossorigin). The
// ETag follows the hash.
func TestIframePageSRI(t *testing.T) {
	t.Parallel()
	const ownHash = "sha256-Hg830HNmYZawhI/X2A1SUmjVrfR+oexFljLwW7+OH1Q="
	etags := map[string]string{}
	for _, c := range []struct {
		name                   string
		o                      sockjs.Options
		wantURL, wantIntegrity string
	}{
		{"default", sockjs.Options{}, sockjs.DefaultSockJSURL, sockjs.DefaultSockJSIntegrity},
		{"default given", sockjs.Options{SockJSURL: sockjs.DefaultSockJSURL}, sockjs.DefaultSockJSURL, sockjs.DefaultSockJSIntegrity},
		{"own with hash", sockjs.Options{SockJSURL: "/static/sockjs.min.js?v=1&x", SockJSIntegrity: ownHash}, "/static/sockjs.min.js?v=1&amp;x", ownHash},
		{"own without hash", sockjs.Options{SockJSURL: "/static/sockjs.min.js?v=1&x"}, "/static/sockjs.min.js?v=1&amp;x", ""},
	} {
		f := newOptionsFixture(t, c.o)
		r := f.get(t, "/x/iframe.html")
		etag := expectIframe(t, r, c.wantURL, c.wantIntegrity)
		tag := `<script src="` + c.wantURL + `"></script>`
		if c.wantIntegrity != "" {
			tag = `<script src="` + c.wantURL + `" integrity="` + c.wantIntegrity + `" crossorigin="anonymous"></script>`
		}
		if body := r.Body(); !strings.Contains(body, "\n  "+tag+"\n") || strings.Count(body, "integrity") != strings.Count(tag, "integrity") {
			t.Errorf("%s: page without the tag %s:\n%s", c.name, tag, body)
		}
		etags[c.name] = etag
	}
	if etags["default"] != etags["default given"] {
		t.Errorf("the default URL, given or implied, makes different pages: ETags %s, %s", etags["default"], etags["default given"])
	}
	if etags["own with hash"] == etags["own without hash"] {
		t.Errorf("the ETag ignores the hash: %s", etags["own with hash"])
	}
}
