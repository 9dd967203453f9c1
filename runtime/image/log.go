package image

// Log attribute keys, kept in one place so every message names things the
// same way.
const (
	logKeyDigest  = "digest"
	logKeyRuntime = "runtime"
	logKeyEntry   = "entry"
	logKeyType    = "type"
	logKeyPath    = "path"
	logKeyError   = "error"
)
