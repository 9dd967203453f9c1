package server

import (
	"net/http"
	"strconv"

	"github.com/kumo-dev/kumo/runtime/internal/control"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

func (s *Server) routesLayers(m *http.ServeMux) {
	m.HandleFunc("GET /2018-10-31/layers", s.api(0, s.listLayers))
	m.HandleFunc("GET /2018-10-31/layers/{$}", s.api(0, s.listLayers))
	m.HandleFunc("POST /2018-10-31/layers/{layer}/versions", s.api(maxControlBody, s.publishLayerVersion))
	m.HandleFunc("GET /2018-10-31/layers/{layer}/versions", s.api(0, s.listLayerVersions))
	m.HandleFunc("GET /2018-10-31/layers/{layer}/versions/{version}", s.api(0, s.getLayerVersion))
	m.HandleFunc("DELETE /2018-10-31/layers/{layer}/versions/{version}", s.api(0, s.deleteLayerVersion))
}

type layerContentInput struct {
	S3Bucket        *string `json:"S3Bucket"`
	S3Key           *string `json:"S3Key"`
	S3ObjectVersion *string `json:"S3ObjectVersion"`
	ZipFile         []byte  `json:"ZipFile"`
}

type publishLayerRequest struct {
	Description             string             `json:"Description"`
	Content                 *layerContentInput `json:"Content"`
	CompatibleRuntimes      []string           `json:"CompatibleRuntimes"`
	LicenseInfo             string             `json:"LicenseInfo"`
	CompatibleArchitectures []string           `json:"CompatibleArchitectures"`
}

type layerVersionContent struct {
	CodeSha256 string `json:"CodeSha256"`
	CodeSize   int64  `json:"CodeSize"`
}

// layerVersionResponse is the output of PublishLayerVersion, GetLayerVersion
// and GetLayerVersionByArn.
type layerVersionResponse struct {
	Content                 layerVersionContent `json:"Content"`
	LayerArn                string              `json:"LayerArn"`
	LayerVersionArn         string              `json:"LayerVersionArn"`
	Description             string              `json:"Description"`
	CreatedDate             string              `json:"CreatedDate"`
	Version                 int64               `json:"Version"`
	CompatibleRuntimes      []string            `json:"CompatibleRuntimes,omitempty"`
	LicenseInfo             string              `json:"LicenseInfo,omitempty"`
	CompatibleArchitectures []string            `json:"CompatibleArchitectures,omitempty"`
}

// layerVersionsListItem is one version in ListLayers and ListLayerVersions.
type layerVersionsListItem struct {
	LayerVersionArn         string   `json:"LayerVersionArn"`
	Version                 int64    `json:"Version"`
	Description             string   `json:"Description"`
	CreatedDate             string   `json:"CreatedDate"`
	CompatibleRuntimes      []string `json:"CompatibleRuntimes,omitempty"`
	LicenseInfo             string   `json:"LicenseInfo,omitempty"`
	CompatibleArchitectures []string `json:"CompatibleArchitectures,omitempty"`
}

type layersListItem struct {
	LayerName             string                `json:"LayerName"`
	LayerArn              string                `json:"LayerArn"`
	LatestMatchingVersion layerVersionsListItem `json:"LatestMatchingVersion"`
}

// layerRef is one entry of FunctionConfiguration.Layers.
type layerRef struct {
	Arn      string `json:"Arn"`
	CodeSize int64  `json:"CodeSize"`
}

func layerRefs(refs []kumo.LayerRef) []layerRef {
	if len(refs) == 0 {
		return nil
	}
	out := make([]layerRef, len(refs))
	for i, r := range refs {
		out[i] = layerRef{Arn: r.Arn, CodeSize: r.CodeSize}
	}
	return out
}

func (s *Server) layerVersion(lv *kumo.LayerVersion) layerVersionResponse {
	return layerVersionResponse{
		Content:                 layerVersionContent{CodeSha256: lv.CodeSha256, CodeSize: lv.CodeSize},
		LayerArn:                s.scope.LayerARN(lv.Name),
		LayerVersionArn:         s.scope.LayerVersionARN(lv.Name, lv.Version),
		Description:             lv.Description,
		CreatedDate:             kumo.LambdaTime(lv.CreatedDate),
		Version:                 lv.Version,
		CompatibleRuntimes:      lv.CompatibleRuntimes,
		LicenseInfo:             lv.LicenseInfo,
		CompatibleArchitectures: lv.CompatibleArchitectures,
	}
}

func (s *Server) layerVersionsListItem(lv *kumo.LayerVersion) layerVersionsListItem {
	return layerVersionsListItem{
		LayerVersionArn:         s.scope.LayerVersionARN(lv.Name, lv.Version),
		Version:                 lv.Version,
		Description:             lv.Description,
		CreatedDate:             kumo.LambdaTime(lv.CreatedDate),
		CompatibleRuntimes:      lv.CompatibleRuntimes,
		LicenseInfo:             lv.LicenseInfo,
		CompatibleArchitectures: lv.CompatibleArchitectures,
	}
}

func (s *Server) publishLayerVersion(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req publishLayerRequest
	var zip []byte
	if err := decodeWithBlob(body, &req, func(b []byte) { zip = b }, "Content", "ZipFile"); err != nil {
		return err
	}
	if req.Content == nil {
		return kumo.InvalidParameter("1 validation error detected: Value null at 'content' failed to satisfy constraint: Member must not be null")
	}
	if zip != nil {
		req.Content.ZipFile = zip
	}
	lv, err := s.control.PublishLayerVersion(r.Context(), control.PublishLayerInput{
		LayerName:               r.PathValue("layer"),
		Description:             req.Description,
		ZipFile:                 req.Content.ZipFile,
		HasS3Code:               req.Content.S3Bucket != nil || req.Content.S3Key != nil,
		CompatibleRuntimes:      req.CompatibleRuntimes,
		CompatibleArchitectures: req.CompatibleArchitectures,
		LicenseInfo:             req.LicenseInfo,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.layerVersion(lv))
	return nil
}

// versionNumber parses the {version} path segment.
func versionNumber(r *http.Request) (int64, error) {
	v := r.PathValue("version")
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, kumo.InvalidParameter("1 validation error detected: Value '%s' at 'versionNumber' failed to satisfy constraint: Member must be a number", v)
	}
	return n, nil
}

func (s *Server) getLayerVersion(w http.ResponseWriter, r *http.Request, _ []byte) error {
	n, err := versionNumber(r)
	if err != nil {
		return err
	}
	lv, err := s.control.GetLayerVersion(r.Context(), r.PathValue("layer"), n)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.layerVersion(lv))
	return nil
}

func (s *Server) deleteLayerVersion(w http.ResponseWriter, r *http.Request, _ []byte) error {
	n, err := versionNumber(r)
	if err != nil {
		return err
	}
	if err := s.control.DeleteLayerVersion(r.Context(), r.PathValue("layer"), n); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func layerFilter(r *http.Request) control.LayerFilter {
	q := r.URL.Query()
	return control.LayerFilter{CompatibleRuntime: q.Get("CompatibleRuntime"), CompatibleArchitecture: q.Get("CompatibleArchitecture")}
}

// listLayers serves ListLayers and, on the same path with
// ?find=LayerVersion, GetLayerVersionByArn.
func (s *Server) listLayers(w http.ResponseWriter, r *http.Request, _ []byte) error {
	q := r.URL.Query()
	switch q.Get("find") {
	case "":
	case "LayerVersion":
		lv, err := s.control.GetLayerVersionByArn(r.Context(), q.Get("Arn"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, s.layerVersion(lv))
		return nil
	default:
		return kumo.InvalidParameter("1 validation error detected: Value '%s' at 'find' failed to satisfy constraint: Member must satisfy enum value set: [LayerVersion]", q.Get("find"))
	}
	maxItems, err := parseMaxItems(r)
	if err != nil {
		return err
	}
	layers, next, err := s.control.ListLayers(r.Context(), layerFilter(r), q.Get("Marker"), maxItems)
	if err != nil {
		return err
	}
	out := make([]layersListItem, 0, len(layers))
	for _, l := range layers {
		out = append(out, layersListItem{
			LayerName:             l.Name,
			LayerArn:              s.scope.LayerARN(l.Name),
			LatestMatchingVersion: s.layerVersionsListItem(l.Latest),
		})
	}
	resp := map[string]any{"Layers": out}
	if next != "" {
		resp["NextMarker"] = next
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) listLayerVersions(w http.ResponseWriter, r *http.Request, _ []byte) error {
	maxItems, err := parseMaxItems(r)
	if err != nil {
		return err
	}
	versions, next, err := s.control.ListLayerVersions(r.Context(), r.PathValue("layer"), layerFilter(r), r.URL.Query().Get("Marker"), maxItems)
	if err != nil {
		return err
	}
	out := make([]layerVersionsListItem, 0, len(versions))
	for _, lv := range versions {
		out = append(out, s.layerVersionsListItem(lv))
	}
	resp := map[string]any{"LayerVersions": out}
	if next != "" {
		resp["NextMarker"] = next
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
