// Package control owns the desired state of functions: it validates
// control-plane requests the way Lambda does, packages code as OCI images
// and writes the result to the store. It never runs code.
package control
