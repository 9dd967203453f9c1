package kumo

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Layer limits Lambda documents and kumo enforces.
const (
	MaxLayersPerFunction       = 5
	MaxLayerNameLen            = 140 // a name or a layer ARN
	MaxLayerVersionArnLen      = 140
	MaxCompatibleRuntimes      = 15
	MaxCompatibleArchitectures = 2
	MaxLicenseInfoLen          = 512
	MaxListLayersItems         = 50
)

// LayerVersion is one published version of a Lambda layer: an OCI layer
// whose files live under /opt, plus the metadata Lambda returns. The layer
// itself is a blob in the host's image store, kept alive by ImageDigest (an
// image holding just that layer) and by every function image built with it.
type LayerVersion struct {
	Name                    string    `json:"name"`
	Version                 int64     `json:"version"`
	Description             string    `json:"description,omitempty"`
	CompatibleRuntimes      []string  `json:"compatibleRuntimes,omitempty"`
	CompatibleArchitectures []string  `json:"compatibleArchitectures,omitempty"`
	LicenseInfo             string    `json:"licenseInfo,omitempty"`
	CreatedDate             time.Time `json:"createdDate"`

	// CodeSha256 is the base64 standard encoding of the SHA-256 of the zip.
	CodeSha256 string `json:"codeSha256"`
	CodeSize   int64  `json:"codeSize"`
	// UnzippedSize counts the bytes the zip unpacked to; it counts against
	// the 250 MB limit of every function that uses the layer.
	UnzippedSize int64 `json:"unzippedSize"`
	// Digest is the OCI layer's digest (sha256:…).
	Digest string `json:"digest"`
	// ImageDigest is the image (empty base + the layer) that holds the
	// layer's blob in the image store.
	ImageDigest string `json:"imageDigest"`
}

// Clone returns a deep copy.
func (l *LayerVersion) Clone() *LayerVersion {
	c := *l
	c.CompatibleRuntimes = append([]string(nil), l.CompatibleRuntimes...)
	c.CompatibleArchitectures = append([]string(nil), l.CompatibleArchitectures...)
	return &c
}

// LayerRef is one entry of a function's Layers: the layer version it names
// and what the function's image was built with.
type LayerRef struct {
	Arn          string `json:"arn"`
	Digest       string `json:"digest"`
	CodeSize     int64  `json:"codeSize"`
	UnzippedSize int64  `json:"unzippedSize"`
}

var (
	layerNameRE       = lazyRegexp(`^[a-zA-Z0-9-_]{1,64}$`)
	layerNameParamRE  = lazyRegexp(`^(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+)$|^[a-zA-Z0-9-_]+$`)
	layerVersionArnRE = lazyRegexp(`^arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+$`)
)

// LayerNamePattern is Lambda's pattern for the LayerName parameter.
const LayerNamePattern = `(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+`

// LayerVersionArnPattern is Lambda's pattern for a layer version ARN.
const LayerVersionArnPattern = `arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+`

// ValidLayerName reports whether name is a bare layer name. It is also a
// valid KV key token: no '.', '*', '>' or whitespace.
func ValidLayerName(name string) bool { return layerNameRE().MatchString(name) }

// LayerARN is the ARN of a layer (all its versions).
func (s Scope) LayerARN(name string) string {
	return fmt.Sprintf("arn:%s:lambda:%s:%s:layer:%s", Partition, s.Region, s.Account, name)
}

// LayerVersionARN is the ARN of one version of a layer.
func (s Scope) LayerVersionARN(name string, version int64) string {
	return s.LayerARN(name) + ":" + strconv.FormatInt(version, 10)
}

// ParseLayerName accepts a LayerName parameter: a name or a layer ARN of
// this host's region and account. It returns the bare name.
func (s Scope) ParseLayerName(raw string) (string, error) {
	if raw == "" || len(raw) > MaxLayerNameLen || !layerNameParamRE().MatchString(raw) {
		return "", InvalidParameter("1 validation error detected: Value '%s' at 'layerName' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", raw, LayerNamePattern)
	}
	if !strings.HasPrefix(raw, "arn:") {
		if len(raw) > 64 {
			return "", InvalidParameter("1 validation error detected: Value '%s' at 'layerName' failed to satisfy constraint: Member must have length less than or equal to 64", raw)
		}
		return raw, nil
	}
	parts := strings.Split(raw, ":")
	if err := s.checkLayerArn(raw, parts); err != nil {
		return "", err
	}
	return parts[6], nil
}

// ParseLayerVersionARN splits a layer version ARN of this host's region
// and account into the layer's name and the version number.
func (s Scope) ParseLayerVersionARN(raw string) (string, int64, error) {
	if len(raw) > MaxLayerVersionArnLen || !layerVersionArnRE().MatchString(raw) {
		return "", 0, InvalidParameter("1 validation error detected: Value '%s' at 'arn' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", raw, LayerVersionArnPattern)
	}
	parts := strings.Split(raw, ":")
	if err := s.checkLayerArn(raw, parts); err != nil {
		return "", 0, err
	}
	n, err := strconv.ParseInt(parts[7], 10, 64)
	if err != nil || n < 1 {
		return "", 0, InvalidParameter("Layer version %s must be a positive number in %s", parts[7], raw)
	}
	return parts[6], n, nil
}

// checkLayerArn checks the partition, region, account and name of a layer
// ARN already split on ':' (and matched by one of the patterns above).
func (s Scope) checkLayerArn(raw string, parts []string) error {
	if parts[1] != Partition {
		return InvalidParameter("Layer ARN %s is not in partition %s", raw, Partition)
	}
	if parts[3] != s.Region || parts[4] != s.Account {
		return InvalidParameter("Layer ARN %s is not in region %s and account %s of this host", raw, s.Region, s.Account)
	}
	if len(parts[6]) > 64 {
		return InvalidParameter("Layer name in %s must have length less than or equal to 64", raw)
	}
	return nil
}

// ValidLayerVersionARN reports whether raw has the shape of a layer version
// ARN (of any region and account).
func ValidLayerVersionARN(raw string) bool {
	return len(raw) <= MaxLayerVersionArnLen && layerVersionArnRE().MatchString(raw)
}
