package transports

// anotherConnection reports a 2010 answer to Config.OnAnotherConnection.
func (c *Config) anotherConnection(transport string) {
	if c.OnAnotherConnection != nil {
		c.OnAnotherConnection(transport)
	}
}
