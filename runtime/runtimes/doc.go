// Package runtimes owns kumo's managed runtimes: for each runtime
// identifier (python3.11, nodejs20.x, …) a recipe that builds its base image
// reproducibly from distribution packages, and the runtime interface client
// kumo ships for it, written in that runtime's own language.
//
// A base image is built from the Debian packages installed on the host,
// exactly as dpkg installed them (no downloads): each recipe lists its
// packages' whole dependency closure, every regular file is checked against
// dpkg's md5sums as it is copied, and documentation, manuals and headers
// are left out. It has three layers: the skeleton every base image shares
// (image.Store.SkeletonLayer: mount points, /etc/passwd with Lambda's
// sandbox user, CA bundle, tzdata), the packages, and the runtime interface
// client under /var/runtime. Layers are sorted tars with fixed timestamps
// and ownership, so the same packages always give the same digest.
//
// A Builder stores each image in the host's image store tagged
// kumo/runtimes/RUNTIME:latest (so the host's registry serves it), labelled
// with the packages' versions and a hash of the recipe; a host builds a
// runtime on its first use, or with `kumo runtime build`, and rebuilds when
// a new kumo changes the recipe.
package runtimes
