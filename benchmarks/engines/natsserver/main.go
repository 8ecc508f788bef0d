// Command natsserver runs a nats-server with JetStream on a loopback port,
// in a process of its own so that benchmarks can read its CPU time apart
// from theirs (the Go module github.com/nats-io/nats-server/v2: nothing to
// install). It runs until SIGINT or SIGTERM.
//
//	go run ./benchmarks/engines/natsserver -port 4222 -store /tmp/js
package main

import (
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

func main() {
	port := flag.Int("port", 4222, "port to listen on, on 127.0.0.1")
	store := flag.String("store", "", "JetStream's store directory (required)")
	flag.Parse()
	if *store == "" {
		log.Fatal("natsserver: -store DIR is required")
	}
	srv, err := natsserver.NewServer(&natsserver.Options{
		ServerName: "bench", Host: "127.0.0.1", Port: *port,
		NoLog: true, NoSigs: true, JetStream: true, StoreDir: *store,
	})
	if err != nil {
		log.Fatalf("natsserver: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		log.Fatal("natsserver: not ready within 10s")
	}
	log.Printf("nats-server with JetStream on nats://127.0.0.1:%d", *port)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	srv.Shutdown()
	srv.WaitForShutdown()
}
