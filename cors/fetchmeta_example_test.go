package cors_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/sockline/sockline/cors"
)

// A session endpoint guarded by both checks: ApplyFetchMetadata refuses
// what a cross-site page makes the browser load without an Origin header
// (an <img>, <iframe> or navigation), and Apply refuses foreign Origins.
// Clients that send no fetch metadata, such as programs, still get in.
func ExamplePolicy_ApplyFetchMetadata() {
	p, err := cors.New(cors.Config{})
	if err != nil {
		panic(err)
	}
	endpoint := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.ApplyFetchMetadata(w, r, false) || !p.Apply(w, r) {
			return // 403 written; no session created
		}
		fmt.Fprintln(w, "session opened")
	})
	for _, site := range []string{"cross-site", "same-origin", ""} {
		r := httptest.NewRequest(http.MethodGet, "https://chat.example.com/echo/000/abc/htmlfile?c=cb", nil)
		if site != "" {
			r.Header.Set("Sec-Fetch-Site", site)
		}
		w := httptest.NewRecorder()
		endpoint.ServeHTTP(w, r)
		fmt.Printf("Sec-Fetch-Site %q: %d\n", site, w.Code)
	}
	// Output:
	// Sec-Fetch-Site "cross-site": 403
	// Sec-Fetch-Site "same-origin": 200
	// Sec-Fetch-Site "": 200
}
