package server

import (
	"net/http"

	"github.com/kumo-dev/kumo/runtime/internal/control"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

func (s *Server) createFunction(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req createFunctionRequest
	var zip []byte
	if err := decodeWithBlob(body, &req, func(b []byte) { zip = b }, "Code", "ZipFile"); err != nil {
		return err
	}
	if zip != nil && req.Code != nil {
		req.Code.ZipFile = zip
	}
	auditFunctionName(r, req.FunctionName)
	if req.FunctionName == "" {
		return kumo.InvalidParameter("1 validation error detected: Value null at 'functionName' failed to satisfy constraint: Member must not be null")
	}
	if req.Code == nil {
		return kumo.InvalidParameter("1 validation error detected: Value null at 'code' failed to satisfy constraint: Member must not be null")
	}
	in := control.CreateInput{
		FunctionName:  req.FunctionName,
		Runtime:       req.Runtime,
		Role:          req.Role,
		Handler:       req.Handler,
		Description:   req.Description,
		Timeout:       req.Timeout,
		MemorySize:    req.MemorySize,
		Architectures: req.Architectures,
		PackageType:   req.PackageType,
		Tags:          req.Tags,
		ZipFile:       req.Code.ZipFile,
		HasS3Code:     req.Code.S3Bucket != nil || req.Code.S3Key != nil,
		ImageURI:      req.Code.ImageUri,
		ImageConfig:   req.ImageConfig.toKumo(),
		Layers:        req.Layers,
		VPC:           req.VpcConfig.set(),
		Publish:       req.Publish,
	}
	if req.Environment != nil {
		in.Environment = req.Environment.Variables
	}
	if req.KMSKeyArn != nil {
		in.KMSKeyArn = *req.KMSKeyArn
	}
	if t := req.DeadLetterConfig.target(); t != nil {
		in.DeadLetterTarget = *t
	}
	if req.EphemeralStorage != nil {
		in.EphemeralStorage = req.EphemeralStorage.Size
	}
	if req.TracingConfig != nil {
		in.TracingMode = req.TracingConfig.Mode
	}
	f, err := s.control.CreateFunction(r.Context(), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.configuration(f))
	return nil
}

func (s *Server) getFunction(w http.ResponseWriter, r *http.Request, _ []byte) error {
	f, err := s.control.GetFunction(r.Context(), r.PathValue("name"), r.URL.Query().Get("Qualifier"))
	if err != nil {
		return err
	}
	tags := f.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	// Lambda also returns Location, a presigned URL of the zip; kumo
	// keeps the code as an OCI image, not the uploaded zip, so there is
	// nothing to point it at yet.
	code := map[string]string{"RepositoryType": "S3"}
	if f.PackageType == kumo.PackageImage {
		code = map[string]string{"RepositoryType": "ECR", "ImageUri": f.ImageURI, "ResolvedImageUri": f.ResolvedImageURI}
	}
	resp := map[string]any{
		"Configuration": s.configuration(f),
		"Code":          code,
		"Tags":          tags,
	}
	// The reservation lives on $LATEST; a version needs one more read.
	reserved := f.ReservedConcurrency
	if f.VersionName() != kumo.VersionLatest {
		reserved, _ = s.control.GetFunctionConcurrency(r.Context(), f.Name)
	}
	if reserved != nil {
		resp["Concurrency"] = map[string]int{"ReservedConcurrentExecutions": *reserved}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) getFunctionConfiguration(w http.ResponseWriter, r *http.Request, _ []byte) error {
	f, err := s.control.GetFunction(r.Context(), r.PathValue("name"), r.URL.Query().Get("Qualifier"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.configuration(f))
	return nil
}

func (s *Server) listFunctions(w http.ResponseWriter, r *http.Request, _ []byte) error {
	q := r.URL.Query()
	maxItems, err := parseMaxItems(r)
	if err != nil {
		return err
	}
	if v := q.Get("FunctionVersion"); v != "" && v != "ALL" {
		return kumo.InvalidParameter("1 validation error detected: Value '%s' at 'functionVersion' failed to satisfy constraint: Member must satisfy enum value set: [ALL]", v)
	}
	fns, next, err := s.control.ListFunctions(r.Context(), q.Get("Marker"), maxItems)
	if err != nil {
		return err
	}
	out := make([]functionConfiguration, 0, len(fns))
	for _, f := range fns {
		out = append(out, s.configuration(f))
	}
	resp := map[string]any{"Functions": out}
	if next != "" {
		resp["NextMarker"] = next
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) updateFunctionCode(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req updateCodeRequest
	if err := decodeWithBlob(body, &req, func(b []byte) { req.ZipFile = b }, "ZipFile"); err != nil {
		return err
	}
	f, err := s.control.UpdateFunctionCode(r.Context(), r.PathValue("name"), control.UpdateCodeInput{
		ZipFile:       req.ZipFile,
		HasS3Code:     req.S3Bucket != nil || req.S3Key != nil,
		ImageURI:      req.ImageUri,
		RevisionID:    req.RevisionId,
		Architectures: req.Architectures,
		DryRun:        req.DryRun,
		Publish:       req.Publish,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.configuration(f))
	return nil
}

func (s *Server) updateFunctionConfiguration(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req updateConfigRequest
	if err := decode(body, &req); err != nil {
		return err
	}
	in := control.ConfigInput{
		Role:        req.Role,
		Handler:     req.Handler,
		Description: req.Description,
		Timeout:     req.Timeout,
		MemorySize:  req.MemorySize,
		Runtime:     req.Runtime,
		RevisionID:  req.RevisionId,
		Layers:      req.Layers,
		ImageConfig: req.ImageConfig.toKumo(),
		VPC:         req.VpcConfig.set(),
	}
	if req.Environment != nil {
		vars := req.Environment.Variables
		in.Environment = &vars
	}
	in.KMSKeyArn = req.KMSKeyArn
	in.DeadLetterTarget = req.DeadLetterConfig.target()
	if req.EphemeralStorage != nil {
		in.EphemeralStorage = req.EphemeralStorage.Size
	}
	if req.TracingConfig != nil && req.TracingConfig.Mode != "" {
		in.TracingMode = &req.TracingConfig.Mode
	}
	f, err := s.control.UpdateFunctionConfiguration(r.Context(), r.PathValue("name"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.configuration(f))
	return nil
}

func (s *Server) deleteFunction(w http.ResponseWriter, r *http.Request, _ []byte) error {
	if err := s.control.DeleteFunction(r.Context(), r.PathValue("name"), r.URL.Query().Get("Qualifier")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) tagResource(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req tagResourceRequest
	if err := decode(body, &req); err != nil {
		return err
	}
	if err := s.control.TagResource(r.Context(), r.PathValue("arn"), req.Tags); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) untagResource(w http.ResponseWriter, r *http.Request, _ []byte) error {
	if err := s.control.UntagResource(r.Context(), r.PathValue("arn"), r.URL.Query()["tagKeys"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listTags(w http.ResponseWriter, r *http.Request, _ []byte) error {
	tags, err := s.control.ListTags(r.Context(), r.PathValue("arn"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"Tags": tags})
	return nil
}

func (s *Server) accountSettings(w http.ResponseWriter, r *http.Request, _ []byte) error {
	u, err := s.control.Usage(r.Context())
	if err != nil {
		return err
	}
	limits := s.control.Limits()
	writeJSON(w, http.StatusOK, map[string]any{
		"AccountLimit": map[string]int64{
			"TotalCodeSize":                  80530636800,
			"CodeSizeUnzipped":               kumo.MaxUnzippedBytes,
			"CodeSizeZipped":                 kumo.MaxZipBytes,
			"ConcurrentExecutions":           int64(limits.ConcurrentExecutions),
			"UnreservedConcurrentExecutions": int64(u.Unreserved),
		},
		"AccountUsage": map[string]int64{
			"TotalCodeSize": u.TotalCodeSize,
			"FunctionCount": u.FunctionCount,
		},
	})
	return nil
}
