package pubsub_test

import (
	"context"
	"fmt"

	"github.com/sockline/sockline/pubsub"
)

// A broker subscribes once per topic on its node and fans out locally.
func ExampleMemory() {
	bus := pubsub.NewMemory(0)
	defer bus.Close()
	ctx := context.Background()
	got := make(chan string, 2)
	cancel, err := bus.Subscribe(ctx, "/topic/news", func(topic string, p []byte) {
		got <- topic + ": " + string(p)
	})
	if err != nil {
		panic(err)
	}
	defer cancel()
	bus.Publish(ctx, "/topic/news", []byte("first"))
	bus.Publish(ctx, "/topic/news", []byte("second"))
	fmt.Println(<-got)
	fmt.Println(<-got)
	// Output:
	// /topic/news: first
	// /topic/news: second
}
