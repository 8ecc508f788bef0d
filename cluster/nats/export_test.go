package nats

// Subject returns the subject a Bus with the default prefix publishes
// topic on, for tests that publish or listen beside the nodes.
func Subject(topic string) string { return DefaultPrefix + ".t." + token(topic) }
