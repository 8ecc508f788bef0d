package clustertest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sockline/sockline/client"
	"github.com/sockline/sockline/sockjs"
)

var httpTransports = []string{client.XHRStreaming, client.XHRPolling, client.EventSource}

// Every HTTP transport echoes through a proxy that sends each request to the
// next node: the sends and polls of one session land on every node.
func testClusterEchoThroughRoundRobinProxy(t *testing.T, e Engine) {
	f := startCluster(t, e, 3, sockjs.Options{})
	for _, tr := range httpTransports {
		t.Run(tr, func(t *testing.T) {
			c := dial(t, f.proxy.URL+"/echo", tr)
			const n = 300
			var want []string
			for i := range n {
				m := fmt.Sprintf("%d ☃ \u2028 \U0001F600 %s", i, strings.Repeat("x", i%50))
				want = append(want, m)
				if err := c.Send(m); err != nil {
					t.Fatal(err)
				}
			}
			for i := range n {
				if got := recv(t, c); got != want[i] {
					t.Fatalf("message %d: got %q, want %q", i, got, want[i])
				}
			}
		})
	}
	served := f.proxy.Served()
	for i, n := range served {
		if n == 0 {
			t.Fatalf("node %d served no request: the proxy did not spread the load (%v)", i+1, served)
		}
	}
}

// The session's handler runs on the node that created it, whichever node
// later requests reach.
func testClusterHandlerRunsOnTheOwnerOnly(t *testing.T, e Engine) {
	f := startCluster(t, e, 3, sockjs.Options{})
	c := dial(t, f.proxy.URL+"/echo", client.XHRPolling)
	first := ""
	for range 6 {
		if err := c.Send("where?"); err != nil {
			t.Fatal(err)
		}
		got := recv(t, c)
		if first == "" {
			first = got
		}
		if got != first {
			t.Fatalf("handler answered from %q, then from %q", first, got)
		}
	}
	opened := 0
	for _, nd := range f.nodes {
		opened += len(nd.opened)
	}
	if opened != 1 {
		t.Fatalf("%d handlers started for one session, want 1", opened)
	}
}

func init() {
	add(
		scenario{"EchoThroughRoundRobinProxy", false, testClusterEchoThroughRoundRobinProxy},
		scenario{"HandlerRunsOnTheOwnerOnly", false, testClusterHandlerRunsOnTheOwnerOnly},
		scenario{"AnotherConnectionAcrossNodes", false, testClusterAnotherConnectionAcrossNodes},
		scenario{"ResponseLimitRolloverLosesNothing", false, testClusterResponseLimitRolloverLosesNothing},
		scenario{"HeartbeatsOnACarriedStream", false, testClusterHeartbeatsOnACarriedStream},
		scenario{"CarriedStreamOverHTTP2WithServerTimeouts", false, testClusterCarriedStreamOverHTTP2WithServerTimeouts},
		scenario{"IdleCarriedRequestsWaitForTheHeartbeat", false, testClusterIdleCarriedRequestsWaitForTheHeartbeat},
		scenario{"BroadcastReachesEveryNode", false, testClusterBroadcastReachesEveryNode},
		scenario{"TopicsReachEveryNode", false, testClusterTopicsReachEveryNode},
		scenario{"TopicSurvivesASubscriberLeavingMidSubscribe", false, testClusterTopicSurvivesASubscriberLeavingMidSubscribe},
		scenario{"ServicesShareTheEngineWithoutMixing", false, testClusterServicesShareTheEngineWithoutMixing},
		scenario{"NodeDeathEndsOnlyItsSessions", false, testClusterNodeDeathEndsOnlyItsSessions},
		scenario{"RestartedNodeNeverCrossesSessions", false, testClusterRestartedNodeNeverCrossesSessions},
		scenario{"LostAckEndsTheCarriedResponse", false, testClusterLostAckEndsTheCarriedResponse},
		scenario{"DeadEdgeFreesTheReceiver", false, testClusterDeadEdgeFreesTheReceiver},
		scenario{"DeadOwnerIsToldAtOnce", false, testClusterDeadOwnerIsToldAtOnce},
		scenario{"TunnelIsAuthenticatedAndCarriesNoCredentials", false, testClusterTunnelIsAuthenticatedAndCarriesNoCredentials},
		scenario{"FloodOfCarriedSendsIsBounded", false, testClusterFloodOfCarriedSendsIsBounded},
		scenario{"LateNackClosesTheSession", false, testClusterLateNackClosesTheSession},
		scenario{"SessionReopenedWhileItsReleaseIsUnderWay", false, testClusterSessionReopenedWhileItsReleaseIsUnderWay},
		scenario{"EngineOutageAndRecovery", true, testClusterEngineOutageAndRecovery},
		scenario{"OutageLongerThanTheDisconnectDelay", true, testClusterOutageLongerThanTheDisconnectDelay},
	)
}
