module github.com/sockline/sockline

go 1.26

require (
	github.com/go-chi/chi/v5 v5.5.0
	github.com/gorilla/websocket v1.5.3
)
