package sockjs

import (
	"strconv"
	"testing"

	"github.com/sockline/sockline/internal/tunnel"
)

// What a node keeps of the exchanges it served stays bounded however many
// there are, and an exchange whose answer had to go is still known (so
// that an Open sent again is never served twice).
func TestRecentExchangesStayBounded(t *testing.T) {
	tests := []struct {
		name  string
		count int
		body  int
	}{
		{"many small answers", 3 * recentSize, 0},
		{"large answers", 200, 512 << 10},
		{"answers too large to keep", 10, maxRecentAnswerBytes + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r recentExchanges
			body := make([]byte, tc.body)
			for i := range tc.count {
				id := "edge/" + strconv.Itoa(i)
				r.add(id, recentExchange{edge: "edge", answer: &tunnel.Msg{Kind: tunnel.KindChunk, ID: id, Body: body}})
				if r.answerBytes > recentAnswerBytes || len(r.answers) > recentSize || len(r.set) > recentSize {
					t.Fatalf("after %d: %d bytes of answers, %d listed, %d known", i+1, r.answerBytes, len(r.answers), len(r.set))
				}
			}
			kept, weight := 0, 0
			for _, e := range r.set {
				if e.answer != nil {
					kept++
					weight += answerWeight(e.answer)
				}
			}
			if weight != r.answerBytes {
				t.Fatalf("answers weigh %d, counted %d", weight, r.answerBytes)
			}
			last, ok := r.get("edge/" + strconv.Itoa(tc.count-1))
			switch {
			case !ok:
				t.Fatal("the last exchange is not known")
			case tc.body > maxRecentAnswerBytes && (last.answer != nil || kept != 0):
				t.Fatalf("an answer of %d bytes was kept", tc.body)
			case tc.body <= maxRecentAnswerBytes && last.answer == nil:
				t.Fatal("the last exchange's answer was not kept")
			}
			if tc.body == 512<<10 {
				if _, ok := r.get("edge/0"); !ok {
					t.Fatal("an exchange whose answer went is no longer known")
				}
				if first, _ := r.get("edge/0"); first.answer != nil {
					t.Fatal("the oldest answer was kept past the byte budget")
				}
			}
		})
	}
}
