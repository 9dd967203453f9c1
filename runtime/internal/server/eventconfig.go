package server

import (
	"context"
	"net/http"
	"strconv"

	"github.com/kumo-dev/kumo/runtime/internal/control"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

// WithEventConfigs serves the FunctionEventInvokeConfig operations.
func WithEventConfigs(ec *control.EventConfigs) Option {
	return func(s *Server) { s.eventConfigs = ec }
}

func (s *Server) eventConfigRoutes(m *http.ServeMux) {
	if s.eventConfigs == nil {
		return
	}
	const path = "/2019-09-25/functions/{name}/event-invoke-config"
	m.HandleFunc("PUT "+path, s.api(maxSmallBody, s.putEventConfig))
	m.HandleFunc("POST "+path, s.api(maxSmallBody, s.updateEventConfig))
	m.HandleFunc("GET "+path, s.api(0, s.getEventConfig))
	m.HandleFunc("DELETE "+path, s.api(0, s.deleteEventConfig))
	m.HandleFunc("GET "+path+"/list", s.api(0, s.listEventConfigs))
}

// deadLetterConfig is FunctionConfiguration's DeadLetterConfig.
type deadLetterConfig struct {
	TargetArn *string `json:"TargetArn,omitempty"`
}

// target is the requested TargetArn: nil when the member is absent, ""
// (clear) for an empty object or an empty ARN.
func (d *deadLetterConfig) target() *string {
	if d == nil {
		return nil
	}
	if d.TargetArn == nil {
		empty := ""
		return &empty
	}
	return d.TargetArn
}

func deadLetter(arn string) *deadLetterConfig {
	if arn == "" {
		return nil
	}
	return &deadLetterConfig{TargetArn: &arn}
}

type destination struct {
	Destination *string `json:"Destination,omitempty"`
}

type destinationConfig struct {
	OnSuccess *destination `json:"OnSuccess,omitempty"`
	OnFailure *destination `json:"OnFailure,omitempty"`
}

type eventConfigRequest struct {
	MaximumRetryAttempts     *int               `json:"MaximumRetryAttempts"`
	MaximumEventAgeInSeconds *int               `json:"MaximumEventAgeInSeconds"`
	DestinationConfig        *destinationConfig `json:"DestinationConfig"`
}

// epochSeconds is a timestamp as rest-json sends a `timestamp` shape: a
// JSON number of seconds. aws-sdk-go-v2 refuses a string here.
type epochSeconds float64

func (e epochSeconds) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(e), 'f', 3, 64)), nil
}

type eventConfigResponse struct {
	LastModified             epochSeconds      `json:"LastModified"`
	FunctionArn              string            `json:"FunctionArn"`
	MaximumRetryAttempts     *int              `json:"MaximumRetryAttempts,omitempty"`
	MaximumEventAgeInSeconds *int              `json:"MaximumEventAgeInSeconds,omitempty"`
	DestinationConfig        destinationConfig `json:"DestinationConfig"`
}

func (s *Server) eventConfigResponse(name string, c kumo.EventInvokeConfig) eventConfigResponse {
	dest := func(arn string) *destination {
		if arn == "" {
			return &destination{}
		}
		return &destination{Destination: &arn}
	}
	return eventConfigResponse{
		LastModified:             epochSeconds(float64(c.LastModified.UnixMilli()) / 1000),
		FunctionArn:              s.scope.QualifiedARN(name, c.Qualifier),
		MaximumRetryAttempts:     c.MaximumRetryAttempts,
		MaximumEventAgeInSeconds: c.MaximumEventAgeInSeconds,
		DestinationConfig:        destinationConfig{OnSuccess: dest(c.OnSuccess), OnFailure: dest(c.OnFailure)},
	}
}

func eventConfigInput(body []byte) (control.EventConfigInput, error) {
	var req eventConfigRequest
	if err := decode(body, &req); err != nil {
		return control.EventConfigInput{}, err
	}
	in := control.EventConfigInput{
		MaximumRetryAttempts:     req.MaximumRetryAttempts,
		MaximumEventAgeInSeconds: req.MaximumEventAgeInSeconds,
	}
	if dc := req.DestinationConfig; dc != nil {
		// A present OnSuccess/OnFailure without a Destination clears it.
		pick := func(d *destination) *string {
			if d == nil {
				return nil
			}
			if d.Destination == nil {
				empty := ""
				return &empty
			}
			return d.Destination
		}
		in.OnSuccess, in.OnFailure = pick(dc.OnSuccess), pick(dc.OnFailure)
	}
	return in, nil
}

// configName is the bare function name for the response's FunctionArn.
func (s *Server) configName(r *http.Request) (string, error) {
	ref, err := s.scope.ParseFunctionName(r.PathValue("name"))
	if err != nil {
		return "", err
	}
	return ref.Name, nil
}

func (s *Server) putEventConfig(w http.ResponseWriter, r *http.Request, body []byte) error {
	return s.writeEventConfig(w, r, body, s.eventConfigs.Put)
}

func (s *Server) updateEventConfig(w http.ResponseWriter, r *http.Request, body []byte) error {
	return s.writeEventConfig(w, r, body, s.eventConfigs.Update)
}

type eventConfigWrite = func(ctx context.Context, name, qualifier string, in control.EventConfigInput) (kumo.EventInvokeConfig, error)

func (s *Server) writeEventConfig(w http.ResponseWriter, r *http.Request, body []byte, op eventConfigWrite) error {
	in, err := eventConfigInput(body)
	if err != nil {
		return err
	}
	name, err := s.configName(r)
	if err != nil {
		return err
	}
	c, err := op(r.Context(), r.PathValue("name"), r.URL.Query().Get("Qualifier"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.eventConfigResponse(name, c))
	return nil
}

func (s *Server) getEventConfig(w http.ResponseWriter, r *http.Request, _ []byte) error {
	name, err := s.configName(r)
	if err != nil {
		return err
	}
	c, err := s.eventConfigs.Get(r.Context(), r.PathValue("name"), r.URL.Query().Get("Qualifier"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.eventConfigResponse(name, c))
	return nil
}

func (s *Server) deleteEventConfig(w http.ResponseWriter, r *http.Request, _ []byte) error {
	if err := s.eventConfigs.Delete(r.Context(), r.PathValue("name"), r.URL.Query().Get("Qualifier")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listEventConfigs(w http.ResponseWriter, r *http.Request, _ []byte) error {
	q := r.URL.Query()
	maxItems, err := parseMaxItems(r)
	if err != nil {
		return err
	}
	name, err := s.configName(r)
	if err != nil {
		return err
	}
	cfgs, next, err := s.eventConfigs.List(r.Context(), r.PathValue("name"), q.Get("Marker"), maxItems)
	if err != nil {
		return err
	}
	out := make([]eventConfigResponse, 0, len(cfgs))
	for _, c := range cfgs {
		out = append(out, s.eventConfigResponse(name, c))
	}
	resp := map[string]any{"FunctionEventInvokeConfigs": out}
	if next != "" {
		resp["NextMarker"] = next
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
