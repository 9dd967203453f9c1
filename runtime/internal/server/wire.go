package server

import (
	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Request shapes. Every member of the model's input shape is declared, even
// the ones kumo does not act on, because bodies are decoded strictly: an
// unknown member is an InvalidRequestContentException, as in Lambda.

type functionCode struct {
	ZipFile         []byte  `json:"ZipFile,omitempty"`
	S3Bucket        *string `json:"S3Bucket,omitempty"`
	S3Key           *string `json:"S3Key,omitempty"`
	S3ObjectVersion *string `json:"S3ObjectVersion,omitempty"`
	ImageUri        string  `json:"ImageUri,omitempty"`
	SourceKMSKeyArn *string `json:"SourceKMSKeyArn,omitempty"`
}

type environment struct {
	Variables map[string]string `json:"Variables"`
}

type ephemeralStorage struct {
	Size *int `json:"Size"`
}

type tracingConfig struct {
	Mode string `json:"Mode,omitempty"`
}

type vpcConfig struct {
	SubnetIds               []string `json:"SubnetIds,omitempty"`
	SecurityGroupIds        []string `json:"SecurityGroupIds,omitempty"`
	Ipv6AllowedForDualStack *bool    `json:"Ipv6AllowedForDualStack,omitempty"`
}

func (v *vpcConfig) set() bool {
	return v != nil && (len(v.SubnetIds) > 0 || len(v.SecurityGroupIds) > 0)
}

// imageConfig is Lambda's ImageConfig, request and response alike.
type imageConfig struct {
	EntryPoint       []string `json:"EntryPoint,omitempty"`
	Command          []string `json:"Command,omitempty"`
	WorkingDirectory string   `json:"WorkingDirectory,omitempty"`
}

func (c *imageConfig) toKumo() *kumo.ImageConfig {
	if c == nil {
		return nil
	}
	return &kumo.ImageConfig{EntryPoint: c.EntryPoint, Command: c.Command, WorkingDirectory: c.WorkingDirectory}
}

type imageConfigResponse struct {
	ImageConfig imageConfig `json:"ImageConfig"`
}

// opaque members are accepted and ignored: they configure AWS services
// that have no meaning on a kumo host yet.
type opaque = map[string]any

type createFunctionRequest struct {
	FunctionName           string            `json:"FunctionName"`
	Runtime                string            `json:"Runtime"`
	Role                   string            `json:"Role"`
	Handler                string            `json:"Handler"`
	Code                   *functionCode     `json:"Code"`
	Description            string            `json:"Description"`
	Timeout                *int              `json:"Timeout"`
	MemorySize             *int              `json:"MemorySize"`
	Publish                bool              `json:"Publish"`
	VpcConfig              *vpcConfig        `json:"VpcConfig"`
	PackageType            string            `json:"PackageType"`
	DeadLetterConfig       *deadLetterConfig `json:"DeadLetterConfig"`
	Environment            *environment      `json:"Environment"`
	KMSKeyArn              *string           `json:"KMSKeyArn"`
	TracingConfig          *tracingConfig    `json:"TracingConfig"`
	Tags                   map[string]string `json:"Tags"`
	Layers                 []string          `json:"Layers"`
	FileSystemConfigs      []opaque          `json:"FileSystemConfigs"`
	ImageConfig            *imageConfig      `json:"ImageConfig"`
	CodeSigningConfigArn   *string           `json:"CodeSigningConfigArn"`
	Architectures          []string          `json:"Architectures"`
	EphemeralStorage       *ephemeralStorage `json:"EphemeralStorage"`
	SnapStart              opaque            `json:"SnapStart"`
	LoggingConfig          opaque            `json:"LoggingConfig"`
	CapacityProviderConfig opaque            `json:"CapacityProviderConfig"`
	PublishTo              *string           `json:"PublishTo"`
	DurableConfig          opaque            `json:"DurableConfig"`
	TenancyConfig          opaque            `json:"TenancyConfig"`
}

type updateCodeRequest struct {
	ZipFile         []byte   `json:"ZipFile"`
	S3Bucket        *string  `json:"S3Bucket"`
	S3Key           *string  `json:"S3Key"`
	S3ObjectVersion *string  `json:"S3ObjectVersion"`
	ImageUri        string   `json:"ImageUri"`
	Publish         bool     `json:"Publish"`
	DryRun          bool     `json:"DryRun"`
	RevisionId      string   `json:"RevisionId"`
	Architectures   []string `json:"Architectures"`
	SourceKMSKeyArn *string  `json:"SourceKMSKeyArn"`
	PublishTo       *string  `json:"PublishTo"`
}

type updateConfigRequest struct {
	Role                   *string           `json:"Role"`
	Handler                *string           `json:"Handler"`
	Description            *string           `json:"Description"`
	Timeout                *int              `json:"Timeout"`
	MemorySize             *int              `json:"MemorySize"`
	VpcConfig              *vpcConfig        `json:"VpcConfig"`
	Environment            *environment      `json:"Environment"`
	Runtime                *string           `json:"Runtime"`
	DeadLetterConfig       *deadLetterConfig `json:"DeadLetterConfig"`
	KMSKeyArn              *string           `json:"KMSKeyArn"`
	TracingConfig          *tracingConfig    `json:"TracingConfig"`
	RevisionId             string            `json:"RevisionId"`
	Layers                 []string          `json:"Layers"`
	FileSystemConfigs      []opaque          `json:"FileSystemConfigs"`
	ImageConfig            *imageConfig      `json:"ImageConfig"`
	EphemeralStorage       *ephemeralStorage `json:"EphemeralStorage"`
	SnapStart              opaque            `json:"SnapStart"`
	LoggingConfig          opaque            `json:"LoggingConfig"`
	CapacityProviderConfig opaque            `json:"CapacityProviderConfig"`
	DurableConfig          opaque            `json:"DurableConfig"`
}

type tagResourceRequest struct {
	Tags map[string]string `json:"Tags"`
}

// Response shapes.

type functionConfiguration struct {
	FunctionName     string            `json:"FunctionName"`
	FunctionArn      string            `json:"FunctionArn"`
	Runtime          string            `json:"Runtime,omitempty"`
	Role             string            `json:"Role"`
	Handler          string            `json:"Handler,omitempty"`
	CodeSize         int64             `json:"CodeSize"`
	Description      string            `json:"Description"`
	Timeout          int               `json:"Timeout"`
	MemorySize       int               `json:"MemorySize"`
	LastModified     string            `json:"LastModified"`
	CodeSha256       string            `json:"CodeSha256"`
	Version          string            `json:"Version"`
	Environment      *environment      `json:"Environment,omitempty"`
	KMSKeyArn        string            `json:"KMSKeyArn,omitempty"`
	DeadLetterConfig *deadLetterConfig `json:"DeadLetterConfig,omitempty"`
	TracingConfig    tracingConfig     `json:"TracingConfig"`
	RevisionId       string            `json:"RevisionId"`
	State            string            `json:"State"`
	LastUpdateStatus string            `json:"LastUpdateStatus"`
	PackageType      string            `json:"PackageType"`
	Architectures    []string          `json:"Architectures"`
	EphemeralStorage ephemeralStorage  `json:"EphemeralStorage"`
	SnapStart        map[string]string `json:"SnapStart"`
	LoggingConfig    map[string]string `json:"LoggingConfig"`
	Layers           []layerRef        `json:"Layers,omitempty"`
	// ImageConfigResponse is there for an Image function with ImageConfig.
	ImageConfigResponse *imageConfigResponse `json:"ImageConfigResponse,omitempty"`
}

func (s *Server) configuration(f *kumo.Function) functionConfiguration {
	size := f.EphemeralStorage
	arn := s.scope.FunctionARN(f.Name)
	if f.Version != "" && f.Version != kumo.VersionLatest {
		arn = s.scope.QualifiedARN(f.Name, f.Version)
	}
	c := functionConfiguration{
		FunctionName:     f.Name,
		FunctionArn:      arn,
		Runtime:          f.Runtime,
		Role:             f.Role,
		Handler:          f.Handler,
		CodeSize:         f.CodeSize,
		Description:      f.Description,
		Timeout:          f.Timeout,
		MemorySize:       f.MemorySize,
		LastModified:     kumo.LambdaTime(f.LastModified),
		CodeSha256:       f.CodeSha256,
		Version:          f.VersionName(),
		KMSKeyArn:        f.KMSKeyArn,
		DeadLetterConfig: deadLetter(f.DeadLetterTarget),
		TracingConfig:    tracingConfig{Mode: f.TracingMode},
		RevisionId:       f.RevisionID,
		State:            f.State,
		LastUpdateStatus: f.LastUpdateStatus,
		PackageType:      f.PackageType,
		Architectures:    f.Architectures,
		EphemeralStorage: ephemeralStorage{Size: &size},
		SnapStart:        map[string]string{"ApplyOn": "None", "OptimizationStatus": "Off"},
		LoggingConfig:    map[string]string{"LogFormat": "Text", "LogGroup": "/aws/lambda/" + f.Name},
		Layers:           layerRefs(f.Layers),
	}
	if len(f.Environment) > 0 {
		c.Environment = &environment{Variables: f.Environment}
	}
	if ic := f.ImageConfig; ic != nil {
		c.ImageConfigResponse = &imageConfigResponse{ImageConfig: imageConfig{
			EntryPoint: ic.EntryPoint, Command: ic.Command, WorkingDirectory: ic.WorkingDirectory,
		}}
	}
	return c
}
