// Package kumod assembles a kumo runtime host from a Config: the state
// engine, the image store, the sandbox manager, the control and invoke
// services and the HTTP server, wired explicitly. It is what `kumo server`
// runs and what tests start.
package kumod
