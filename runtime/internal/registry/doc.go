// Package registry serves the host's image store as an OCI distribution
// registry under /v2/, so `crane push`, go-containerregistry or any OCI
// client can push images that functions then name in ImageUri.
//
// It implements the distribution spec's pull, push and content-discovery
// endpoints: blobs by digest, monolithic and chunked uploads (PATCH with
// Content-Range, finished by PUT ?digest=), cross-repository mounts,
// manifests and indexes (OCI and Docker schema 2) by tag or digest, tag
// listing and the catalog, with errors in the spec's JSON shape.
//
// Blobs are global to the host, as in most registries: a mount succeeds
// whenever the blob exists. Manifests belong to repositories (see
// image.Store.PutManifest). Clients authenticate with HTTP Basic using the
// host's access key id and secret access key; a request without them gets
// 401 and the Basic challenge, which registry clients answer by retrying
// with credentials.
//
// Every body is bounded (manifests by image.MaxManifestBytes, blobs by the
// configured maximum); blobs stream to disk with a running digest, never
// through memory, and each read or write of a body must make progress
// within the idle timeout, so a client trickling bytes cannot hold a
// connection forever. Concurrent requests to one upload session are
// refused rather than interleaved.
package registry
