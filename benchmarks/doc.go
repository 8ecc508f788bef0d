// Package benchmarks compares Sockline with the reference Go server,
// github.com/igm/sockjs-go/v3 (v3.0.3), in the same `go test -bench` run, so
// that results can be read as ratios on whatever machine runs them.
//
// The package holds only tests. Every benchmark has two sub-benchmarks that
// differ in their last name element alone, impl=sockline and impl=sockjs-go,
// so that benchstat pairs them with -col /impl:
//
//	BenchmarkFrameEncode/msg=…/batch=…   encoding messages into one a[...] frame
//	BenchmarkWebsocketEcho               one message, one round trip
//	BenchmarkWebsocketPipelined          100 messages out, then 100 back
//	BenchmarkXHRStreamingEcho            xhr_send POST, answer on the stream
//	BenchmarkBroadcast/sessions=1000     one message to 1000 websockets
//
// The network benchmarks run both servers on 127.0.0.1 (httptest) with the
// same client code on both sides of a ratio; CPU time and allocations are
// counted process-wide and therefore include the client.
// Each benchmark also reports cpu-ns/op, the CPU time of the whole process
// per operation, which on a shared machine is steadier than wall time.
// Every wait is bounded by a deadline, and servers and clients are closed
// when a benchmark ends.
//
// Run `go test ./benchmarks/` for a quick check that both servers echo; see
// README.md for the benchmark commands and the latest ratios.
package benchmarks
