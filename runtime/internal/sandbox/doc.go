// Package sandbox owns the isolated execution environment of one function
// instance: its namespaces, cgroups, mounts, seccomp filter and the Runtime
// API listener inside its network namespace.
//
// It is the only package that imports libcontainer. A binary that starts
// sandboxes re-executes itself as "<argv0> init" for every container, so it
// must call Init from an init function before main runs.
package sandbox
