// Package image owns the host's OCI image store: it turns uploaded zips into
// layers, builds the runtime base images, writes images into an OCI image
// layout, and unpacks their layers into a per-host cache that sandboxes use
// as read-only overlay layers.
//
// Every function revision is an image: a runtime base image plus one code
// layer (the zip's files under var/task). Lambda layers will add one layer
// each under opt, and container-image functions bring their own layers; all
// of them flow through [Store.Put] and [Store.Unpack].
//
// Layers that kumo builds are uncompressed tars
// (application/vnd.oci.image.layer.v1.tar). The uploaded zip already bounds
// what the client sends over the wire, and on the host the hot path is
// unpacking a layer on a cold start: an uncompressed tar unpacks at disk
// speed with a single SHA-256 pass that both verifies the blob and feeds the
// extractor, where gzip would add a single-threaded inflate of up to 250 MB.
// Layers pulled from registries may be gzip or zstd compressed; Unpack
// handles those too, and verifies the compressed digest.
//
// Everything read back from disk is digest-verified before it is trusted:
// manifests and configs when an image is opened, layer blobs while they
// stream. Extraction never follows a link on the host: it writes through an
// [os.Root], refuses entries whose parent is a symlink, and creates files
// with O_EXCL.
package image
