module github.com/sockline/sockline

go 1.26

require (
	github.com/go-chi/chi/v5 v5.5.0
	github.com/gorilla/websocket v1.5.3
	github.com/igm/sockjs-go/v3 v3.0.3
)

require go.uber.org/goleak v1.3.0
