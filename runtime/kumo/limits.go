package kumo

// Limits Lambda documents and kumo enforces.
const (
	MinMemoryMB           = 128
	MaxMemoryMB           = 10240
	DefaultMemoryMB       = 128
	MinTimeoutSeconds     = 1
	MaxTimeoutSeconds     = 900
	DefaultTimeoutSeconds = 3
	MinEphemeralMB        = 512
	MaxEphemeralMB        = 10240
	DefaultEphemeralMB    = 512

	MaxEnvironmentBytes = 4 * 1024
	MaxDescriptionLen   = 256
	MaxFunctionNameLen  = 64

	// MaxZipBytes is the largest zip accepted in a request (Code.ZipFile,
	// after base64 decoding).
	MaxZipBytes = 50 * 1024 * 1024
	// MaxUnzippedBytes bounds the unpacked code (and later its layers).
	MaxUnzippedBytes = 250 * 1024 * 1024
	// MaxZipEntries bounds the number of files in one zip, so a zip of a
	// million empty files cannot exhaust inodes.
	MaxZipEntries = 20000

	MaxSyncPayloadBytes     = 6 * 1024 * 1024
	MaxSyncResponseBytes    = 6 * 1024 * 1024
	MaxClientContextBytes   = 3583
	LogTailBytes            = 4096
	DefaultPidsLimit        = 1024
	DefaultOpenFilesLimit   = 1024
	FullCPUMemoryMB         = 1769
	MaxTagsPerFunction      = 50
	MaxListItems            = 10000
	DefaultListFunctionsMax = 50
)
