// Package image owns the host's OCI image store: it turns uploaded zips into
// layers, builds the runtime base images, writes images into an OCI image
// layout, and unpacks their layers into a per-host cache that sandboxes use
// as read-only overlay layers.
//
// Every function revision is an image: a runtime base image plus one code
// layer (the zip's files under var/task), with Lambda layers under opt in
// between; these are built by [Store.Put]. Container-image functions bring
// their own image, fetched from a registry by [Remote] (or found in the
// host's own registry by [Store.ResolveImage]) and copied in unchanged, so
// its digest stays the one the function is pinned to, by [Store.Write],
// which also enforces the image size limit. [Mirror] keeps every function
// image in an external registry as well, for hosts that share it. All of
// them are unpacked by [Store.Unpack].
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
