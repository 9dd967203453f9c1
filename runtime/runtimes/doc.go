// Package runtimes owns kumo's managed runtimes: for each runtime
// identifier (python3.11, nodejs20.x, …) a recipe that builds its base image
// reproducibly from distribution packages, and the runtime interface client
// kumo ships for it, written in that runtime's own language.
package runtimes
