package kumo

import "time"

// Package types.
const (
	PackageZip   = "Zip"
	PackageImage = "Image"
)

// Function states and update statuses, as Lambda names them.
const (
	StateActive     = "Active"
	StatePending    = "Pending"
	StateFailed     = "Failed"
	UpdateSuccess   = "Successful"
	UpdateInProgess = "InProgress"
	UpdateFailed    = "Failed"
)

// VersionLatest is the mutable version every function has.
const VersionLatest = "$LATEST"

// Function is the desired state of one function's $LATEST, as stored in
// the engine. Code is referred to by the digest of its OCI image; the image
// itself lives in the host's blob store.
type Function struct {
	Name             string            `json:"name"`
	Runtime          string            `json:"runtime,omitempty"`
	Role             string            `json:"role"`
	Handler          string            `json:"handler,omitempty"`
	Description      string            `json:"description"`
	MemorySize       int               `json:"memorySize"`
	Timeout          int               `json:"timeout"`
	EphemeralStorage int               `json:"ephemeralStorage"`
	Environment      map[string]string `json:"environment,omitempty"`
	Architectures    []string          `json:"architectures"`
	PackageType      string            `json:"packageType"`
	TracingMode      string            `json:"tracingMode"`
	Tags             map[string]string `json:"tags,omitempty"`
	// KMSKeyArn is the customer key Lambda would encrypt the environment
	// with. kumo stores and returns it; the host's own master key does
	// the sealing.
	KMSKeyArn string `json:"kmsKeyArn,omitempty"`
	// DeadLetterTarget is DeadLetterConfig.TargetArn: where async events
	// that failed for good are sent (see ParseDestination).
	DeadLetterTarget string `json:"deadLetterTarget,omitempty"`

	// CodeSha256 is the base64 standard encoding of the SHA-256 of the zip.
	CodeSha256 string `json:"codeSha256"`
	CodeSize   int64  `json:"codeSize"`
	// ImageDigest pins the OCI image (base + code layer) that runs.
	ImageDigest string `json:"imageDigest"`
	// UnzippedSize counts the bytes the code zip unpacked to (0 for
	// functions created before it was recorded).
	UnzippedSize int64 `json:"unzippedSize,omitempty"`
	// Layers are the function's Lambda layers, in order: the image holds
	// them between the base and the code layer (layer.go).
	Layers []LayerRef `json:"layers,omitempty"`
	// ImageURI is Code.ImageUri as the caller gave it (PackageType Image);
	// ResolvedImageURI pins it to the manifest digest it named at create
	// or update time, as Lambda does.
	ImageURI         string `json:"imageUri,omitempty"`
	ResolvedImageURI string `json:"resolvedImageUri,omitempty"`
	// ImageConfig overrides the image's ENTRYPOINT, CMD and WORKDIR.
	ImageConfig *ImageConfig `json:"imageConfig,omitempty"`

	// Version is "" or $LATEST for the mutable function and "1", "2", …
	// for a published version, which is an immutable snapshot.
	Version string `json:"version,omitempty"`
	// LastVersion is the highest version number ever published ($LATEST
	// only); numbers are never reused, even after a version is deleted.
	LastVersion int `json:"lastVersion,omitempty"`
	// ReservedConcurrency is the function's reserved concurrency ($LATEST
	// only; it applies to every version); nil when none is reserved.
	ReservedConcurrency *int `json:"reservedConcurrency,omitempty"`

	RevisionID       string    `json:"revisionId"`
	LastModified     time.Time `json:"lastModified"`
	State            string    `json:"state"`
	LastUpdateStatus string    `json:"lastUpdateStatus"`
}

// Clone returns a deep copy, so cached values can be handed out safely.
func (f *Function) Clone() *Function {
	c := *f
	c.Environment = cloneMap(f.Environment)
	c.Tags = cloneMap(f.Tags)
	c.Architectures = append([]string(nil), f.Architectures...)
	if f.Layers != nil {
		c.Layers = append([]LayerRef(nil), f.Layers...)
	}
	if f.ReservedConcurrency != nil {
		n := *f.ReservedConcurrency
		c.ReservedConcurrency = &n
	}
	if f.ImageConfig != nil {
		ic := f.ImageConfig.Clone()
		c.ImageConfig = &ic
	}
	return &c
}

// ImageConfig is Lambda's ImageConfig: values that override the container
// image's own configuration. A nil slice keeps the image's value; an empty
// string keeps its working directory.
type ImageConfig struct {
	EntryPoint       []string `json:"entryPoint,omitempty"`
	Command          []string `json:"command,omitempty"`
	WorkingDirectory string   `json:"workingDirectory,omitempty"`
}

// Clone returns a deep copy.
func (c ImageConfig) Clone() ImageConfig {
	c.EntryPoint = append([]string(nil), c.EntryPoint...)
	c.Command = append([]string(nil), c.Command...)
	if len(c.EntryPoint) == 0 {
		c.EntryPoint = nil
	}
	if len(c.Command) == 0 {
		c.Command = nil
	}
	return c
}

// VersionName is the function's version: $LATEST or a number.
func (f *Function) VersionName() string {
	if f.Version == "" {
		return VersionLatest
	}
	return f.Version
}

// Alias names a version of a function, optionally sending a share of its
// invocations to a second version.
type Alias struct {
	Function        string `json:"function"`
	Name            string `json:"name"`
	FunctionVersion string `json:"functionVersion"`
	Description     string `json:"description"`
	// AdditionalVersionWeights maps at most one other version to the share
	// (0..1) of invocations it receives.
	AdditionalVersionWeights map[string]float64 `json:"additionalVersionWeights,omitempty"`
	RevisionID               string             `json:"revisionId"`
}

// Clone returns a deep copy.
func (a *Alias) Clone() *Alias {
	c := *a
	if a.AdditionalVersionWeights != nil {
		c.AdditionalVersionWeights = make(map[string]float64, len(a.AdditionalVersionWeights))
		for k, v := range a.AdditionalVersionWeights {
			c.AdditionalVersionWeights[k] = v
		}
	}
	return &c
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// LambdaTime formats t the way Lambda formats FunctionConfiguration
// timestamps: 2020-04-10T19:06:32.563+0000.
func LambdaTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000-0700")
}
