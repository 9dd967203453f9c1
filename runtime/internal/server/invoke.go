package server

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/kumo-dev/kumo/runtime/internal/invoke"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

func (s *Server) invoke(w http.ResponseWriter, r *http.Request, body []byte) error {
	req := invoke.Request{
		FunctionName:   r.PathValue("name"),
		Qualifier:      r.URL.Query().Get("Qualifier"),
		InvocationType: r.Header.Get("X-Amz-Invocation-Type"),
		Payload:        body,
		TenantID:       r.Header.Get("X-Amz-Tenant-Id"),
	}
	if req.InvocationType == "" {
		req.InvocationType = invoke.TypeRequestResponse
	}
	switch req.InvocationType {
	case invoke.TypeRequestResponse, invoke.TypeEvent, invoke.TypeDryRun:
	default:
		return kumo.InvalidParameter("1 validation error detected: Value '%s' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]", req.InvocationType)
	}
	switch lt := r.Header.Get("X-Amz-Log-Type"); lt {
	case "", "None":
	case "Tail":
		req.Tail = req.InvocationType == invoke.TypeRequestResponse
	default:
		return kumo.InvalidParameter("1 validation error detected: Value '%s' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]", lt)
	}
	if cc := r.Header.Get("X-Amz-Client-Context"); cc != "" {
		decoded, err := decodeClientContext(cc)
		if err != nil {
			return err
		}
		req.ClientContext = decoded
	}
	if len(body) > 0 && !json.Valid(body) {
		return kumo.Errorf(kumo.ErrInvalidRequestContent, "Could not parse request body into json: Could not parse payload into json: the payload is not valid JSON")
	}
	resp, err := s.invoker.Invoke(r.Context(), req)
	if err != nil {
		return err
	}
	h := w.Header()
	if resp.RequestID != "" {
		h.Set("x-amzn-RequestId", resp.RequestID)
	}
	if resp.ExecutedVersion != "" {
		h.Set("X-Amz-Executed-Version", resp.ExecutedVersion)
	}
	if resp.FunctionError != "" {
		h.Set("X-Amz-Function-Error", resp.FunctionError)
	}
	if req.Tail && resp.LogTail != nil {
		h.Set("X-Amz-Log-Result", base64.StdEncoding.EncodeToString(resp.LogTail))
	}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	if status != http.StatusOK {
		w.WriteHeader(status)
		return nil
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(resp.Payload)))
	w.WriteHeader(status)
	_, _ = w.Write(resp.Payload)
	return nil
}

// decodeClientContext turns the header's base64 into the JSON document the
// Runtime API forwards; aws-lambda-go unmarshals it, so it must be JSON.
func decodeClientContext(cc string) (string, error) {
	if len(cc) > kumo.MaxClientContextBytes {
		return "", kumo.InvalidParameter("Client context must be smaller than %d bytes of base64", kumo.MaxClientContextBytes)
	}
	raw, err := base64.StdEncoding.DecodeString(cc)
	if err != nil {
		return "", kumo.Errorf(kumo.ErrInvalidRequestContent, "Client context must be a base64 encoded JSON document: %v", err)
	}
	if !json.Valid(raw) {
		return "", kumo.Errorf(kumo.ErrInvalidRequestContent, "Client context must be a base64 encoded JSON document: %s", fmt.Sprintf("%.40q", raw))
	}
	return string(raw), nil
}
