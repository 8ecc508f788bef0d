// Command rabbitnode runs a private RabbitMQ node with its STOMP plugin on
// free loopback ports (package testrabbit) for the browser suite's relay
// run: it prints "STOMP 127.0.0.1:PORT" once the node takes STOMP
// connections, and stops the node on SIGTERM, SIGINT or when its standard
// input closes.
package main

import (
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/sockline/sockline/internal/testrabbit"
)

func main() {
	s, err := testrabbit.Start()
	if err != nil {
		log.Fatalf("rabbitnode: %v", err)
	}
	defer s.Stop()
	fmt.Printf("STOMP %s\n", s.Addr())
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(eof)
	}()
	select {
	case <-stop:
	case <-eof:
	}
}
