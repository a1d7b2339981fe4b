"""Stand-ins for the node software kubemig talks to, for tests and the demo: real sockets, real messages."""
