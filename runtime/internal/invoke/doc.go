// Package invoke owns the invocation path: it resolves the function an
// invocation names from an in-memory copy of the desired state, takes a
// concurrency slot, runs the event on the node and records the logs.
package invoke
