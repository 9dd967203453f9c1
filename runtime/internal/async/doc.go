// Package async owns asynchronous invocation: the durable JetStream queue
// that InvocationType Event writes to before answering 202, the workers
// that run queued events through the invoke path with Lambda's retry and
// event-age rules, and the delivery of invocation records to destinations
// (another function, or a NATS subject) and of failed events to the
// function's dead-letter target. No accepted event is ever dropped
// silently: each one ends processed, delivered to a failure target, or
// recorded in the function's log and the server log.
package async
