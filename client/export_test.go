package client

// QueueLen is the number of requests (and starts) waiting for a connection.
func (c *Client) QueueLen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue) + c.pendingStartsLocked()
}
