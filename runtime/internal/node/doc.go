// Package node runs functions on this machine: it turns a function's image
// into a root filesystem, starts sandboxes serving the Runtime API, keeps
// warm instances frozen between invocations, reaps idle ones, and reports
// each invocation's result, logs and resource use.
package node
