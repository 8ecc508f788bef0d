package history_test

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/sockline/sockline/history"
	"github.com/sockline/sockline/history/historytest"
	"github.com/sockline/sockline/pubsub"
)

func TestMemoryStore(t *testing.T) {
	historytest.Run(t, func(*testing.T) history.Store { return history.NewMemory(nil) })
}

func TestMemoryPublishesFramedInOrder(t *testing.T) {
	bus := pubsub.NewMemory(0)
	defer bus.Close()
	m := history.NewMemory(bus)
	got := make(chan history.Entry, 100)
	cancel, err := bus.Subscribe(context.Background(), "t", func(_ string, p []byte) {
		e, err := history.ParseFrame(p)
		if err != nil {
			t.Error(err)
		}
		got <- e
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				if _, err := m.Publish(context.Background(), "t", []byte("x"), history.Bounds{}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for i := range 40 {
		e := <-got
		if e.Offset != uint64(i+1) {
			t.Fatalf("bus message %d has offset %d: out of order", i, e.Offset)
		}
	}
}

func TestFrameRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		pos     history.Position
		payload string
	}{
		{history.Position{Offset: 0, Epoch: "e"}, ""},
		{history.Position{Offset: 1, Epoch: "abc"}, "hello"},
		{history.Position{Offset: 1<<64 - 1, Epoch: "ff"}, "with: colons: h1:2:x:"},
	} {
		e, err := history.ParseFrame(history.Frame(tc.pos, []byte(tc.payload)))
		if err != nil || e.Position != tc.pos || string(e.Payload) != tc.payload {
			t.Errorf("round trip of %v %q = %v %q, %v", tc.pos, tc.payload, e.Position, e.Payload, err)
		}
	}
	for _, bad := range []string{"", "hello", "h1:", "h1:1", "h1:1:e", "h1::e:p", "h1:01:e:p", "h1:-1:e:p", "h1:1::p", "h1:99999999999999999999:e:p"} {
		if _, err := history.ParseFrame([]byte(bad)); err == nil {
			t.Errorf("ParseFrame(%q) accepted it", bad)
		}
	}
}

func FuzzParseFrame(f *testing.F) {
	f.Add([]byte("h1:1:abc:payload"))
	f.Add([]byte("h1:18446744073709551615:e:"))
	f.Add([]byte("h1:1:e:h1:2:e:x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := history.ParseFrame(b)
		if err != nil {
			return
		}
		if again := history.Frame(e.Position, e.Payload); !bytes.Equal(again, b) {
			t.Fatalf("Frame(ParseFrame(%q)) = %q", b, again)
		}
	})
}

func FuzzParsePosition(f *testing.F) {
	f.Add("12@abc")
	f.Add("0@e")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := history.ParsePosition(s)
		if err != nil {
			return
		}
		if again, err := history.ParsePosition(p.String()); err != nil || again != p {
			t.Fatalf("ParsePosition(%q) = %v, which reads back as %v, %v", s, p, again, err)
		}
	})
}

func TestPositionString(t *testing.T) {
	p := history.Position{Offset: 12, Epoch: "3f9a"}
	if got, err := history.ParsePosition(p.String()); err != nil || got != p {
		t.Fatalf("ParsePosition(%q) = %v, %v", p.String(), got, err)
	}
	for _, bad := range []string{"", "12", "12@", "x@e", "-1@e"} {
		if _, err := history.ParsePosition(bad); err == nil {
			t.Errorf("ParsePosition(%q) accepted it", bad)
		}
	}
}

func TestMatch(t *testing.T) {
	rules := []history.Rule{
		{Pattern: "news", Bounds: history.Bounds{Size: 5}},
		{Pattern: "room/*", Bounds: history.Bounds{Size: 7}},
	}
	for _, tc := range []struct {
		topic string
		size  int
		ok    bool
	}{
		{"news", 5, true}, {"newsx", 0, false}, {"room/a", 7, true}, {"room/", 7, true}, {"room", 0, false}, {"other", 0, false},
	} {
		b, ok := history.Match(rules, tc.topic)
		if ok != tc.ok || (ok && b.Size != tc.size) {
			t.Errorf("Match(%q) = %v %v, want size %d %v", tc.topic, b, ok, tc.size, tc.ok)
		}
	}
	if b, ok := history.Match([]history.Rule{{Pattern: "*"}}, "x"); !ok || b != (history.Bounds{}).WithDefaults() {
		t.Errorf("Match(*) = %v %v, want the defaults", b, ok)
	}
}

func entries(epoch string, from, to uint64) []history.Entry {
	var es []history.Entry
	for o := from; o <= to; o++ {
		es = append(es, history.Entry{Position: history.Position{Offset: o, Epoch: epoch}})
	}
	return es
}

func TestCursor(t *testing.T) {
	for _, tc := range []struct {
		name    string
		live    []history.Entry // before the replay
		replay  []history.Entry
		top     uint64
		after   []history.Entry // after the replay
		want    []uint64
		stopErr error
	}{
		{name: "replay then buffered, overlap dropped", live: entries("e", 4, 6), replay: entries("e", 2, 5), top: 5, after: entries("e", 7, 8), want: []uint64{2, 3, 4, 5, 6, 7, 8}},
		{name: "no replay starts at top", live: entries("e", 3, 4), top: 3, want: []uint64{4}},
		{name: "live duplicates dropped", replay: entries("e", 1, 2), top: 2, after: append(entries("e", 2, 3), entries("e", 3, 4)...), want: []uint64{1, 2, 3, 4}},
		{name: "a gap stops", top: 2, after: entries("e", 4, 4), stopErr: history.ErrGap},
		{name: "another epoch stops", top: 2, after: entries("f", 3, 3), stopErr: history.ErrGap},
		{name: "a gap between replay and buffer stops", live: entries("e", 8, 8), replay: entries("e", 2, 5), top: 5, want: []uint64{2, 3, 4, 5}, stopErr: history.ErrGap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []uint64
			var stopped error
			c := &history.Cursor{
				Deliver: func(e history.Entry) { got = append(got, e.Offset) },
				Stop:    func(err error) { stopped = err },
			}
			for _, e := range tc.live {
				c.Live(e)
			}
			c.Replay(tc.replay, history.Position{Offset: tc.top, Epoch: "e"})
			for _, e := range tc.after {
				c.Live(e)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("delivered %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("delivered %v, want %v", got, tc.want)
				}
			}
			if stopped != tc.stopErr {
				t.Fatalf("stopped with %v, want %v", stopped, tc.stopErr)
			}
		})
	}
}

func TestCursorBufferFull(t *testing.T) {
	var stopped error
	c := &history.Cursor{Deliver: func(history.Entry) {}, Stop: func(err error) { stopped = err }, MaxBuffered: 2}
	for _, e := range entries("e", 1, 3) {
		c.Live(e)
	}
	if stopped != history.ErrBufferFull {
		t.Fatalf("stopped with %v, want ErrBufferFull", stopped)
	}
}

// Lost never delivers: a cursor one short of top stops with a gap (a
// marker entry at top would have been delivered to it as an empty
// message), one at top or past it goes on, another epoch stops it.
func TestCursorLost(t *testing.T) {
	for _, tc := range []struct {
		name    string
		at      uint64 // the cursor's position after the replay
		lost    history.Position
		stopErr error
	}{
		{name: "one short of top", at: 4, lost: history.Position{Offset: 5, Epoch: "e"}, stopErr: history.ErrGap},
		{name: "far behind", at: 1, lost: history.Position{Offset: 5000, Epoch: "e"}, stopErr: history.ErrGap},
		{name: "at top", at: 5, lost: history.Position{Offset: 5, Epoch: "e"}},
		{name: "past top", at: 6, lost: history.Position{Offset: 5, Epoch: "e"}},
		{name: "another epoch", at: 5, lost: history.Position{Offset: 1, Epoch: "f"}, stopErr: history.ErrGap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []uint64
			var stopped error
			c := &history.Cursor{
				Deliver: func(e history.Entry) { got = append(got, e.Offset) },
				Stop:    func(err error) { stopped = err },
			}
			c.Replay(nil, history.Position{Offset: tc.at, Epoch: "e"})
			c.Lost(tc.lost)
			if len(got) != 0 || stopped != tc.stopErr {
				t.Fatalf("delivered %v, stopped with %v; want nothing delivered, stopped with %v", got, stopped, tc.stopErr)
			}
		})
	}
	// Before the replay it does nothing: the replay reads the store.
	var stopped error
	c := &history.Cursor{Deliver: func(history.Entry) {}, Stop: func(err error) { stopped = err }}
	c.Lost(history.Position{Offset: 9, Epoch: "e"})
	c.Replay(nil, history.Position{Offset: 9, Epoch: "e"})
	if stopped != nil {
		t.Fatalf("a cursor told of a loss before its replay stopped: %v", stopped)
	}
}
