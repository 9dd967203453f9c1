package server

import (
	"net/http"
	"strconv"

	"github.com/kumo-dev/kumo/runtime/internal/control"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

func (s *Server) routesVersions(m *http.ServeMux) {
	m.HandleFunc("POST /2015-03-31/functions/{name}/versions", s.api(maxSmallBody, s.publishVersion))
	m.HandleFunc("GET /2015-03-31/functions/{name}/versions", s.api(0, s.listVersions))
	m.HandleFunc("POST /2015-03-31/functions/{name}/aliases", s.api(maxSmallBody, s.createAlias))
	m.HandleFunc("GET /2015-03-31/functions/{name}/aliases", s.api(0, s.listAliases))
	m.HandleFunc("GET /2015-03-31/functions/{name}/aliases/{alias}", s.api(0, s.getAlias))
	m.HandleFunc("PUT /2015-03-31/functions/{name}/aliases/{alias}", s.api(maxSmallBody, s.updateAlias))
	m.HandleFunc("DELETE /2015-03-31/functions/{name}/aliases/{alias}", s.api(0, s.deleteAlias))
	m.HandleFunc("PUT /2017-10-31/functions/{name}/concurrency", s.api(maxSmallBody, s.putConcurrency))
	m.HandleFunc("GET /2019-09-30/functions/{name}/concurrency", s.api(0, s.getConcurrency))
	m.HandleFunc("DELETE /2017-10-31/functions/{name}/concurrency", s.api(0, s.deleteConcurrency))
}

type publishVersionRequest struct {
	CodeSha256  string  `json:"CodeSha256"`
	Description string  `json:"Description"`
	RevisionId  string  `json:"RevisionId"`
	PublishTo   *string `json:"PublishTo"`
}

func (s *Server) publishVersion(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req publishVersionRequest
	if err := decode(body, &req); err != nil {
		return err
	}
	f, err := s.control.PublishVersion(r.Context(), r.PathValue("name"), req.CodeSha256, req.Description, req.RevisionId)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.configuration(f))
	return nil
}

// parseMaxItems parses the MaxItems query parameter (0 when absent).
func parseMaxItems(r *http.Request) (int, error) {
	v := r.URL.Query().Get("MaxItems")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, kumo.InvalidParameter("1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must be a number", v)
	}
	return n, nil
}

func (s *Server) listVersions(w http.ResponseWriter, r *http.Request, _ []byte) error {
	n, err := parseMaxItems(r)
	if err != nil {
		return err
	}
	fns, next, err := s.control.ListVersions(r.Context(), r.PathValue("name"), r.URL.Query().Get("Marker"), n)
	if err != nil {
		return err
	}
	out := make([]functionConfiguration, 0, len(fns))
	for _, f := range fns {
		out = append(out, s.configuration(f))
	}
	resp := map[string]any{"Versions": out}
	if next != "" {
		resp["NextMarker"] = next
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

type routingConfig struct {
	AdditionalVersionWeights map[string]float64 `json:"AdditionalVersionWeights"`
}

type aliasRequest struct {
	Name            string         `json:"Name"`
	FunctionVersion *string        `json:"FunctionVersion"`
	Description     *string        `json:"Description"`
	RoutingConfig   *routingConfig `json:"RoutingConfig"`
	RevisionId      string         `json:"RevisionId"`
}

func (req aliasRequest) input() control.AliasInput {
	in := control.AliasInput{FunctionVersion: req.FunctionVersion, Description: req.Description, RevisionID: req.RevisionId}
	if req.RoutingConfig != nil {
		in.HasRouting = true
		in.Weights = req.RoutingConfig.AdditionalVersionWeights
		if in.Weights == nil {
			in.Weights = map[string]float64{}
		}
	}
	return in
}

type aliasConfiguration struct {
	AliasArn        string         `json:"AliasArn"`
	Name            string         `json:"Name"`
	FunctionVersion string         `json:"FunctionVersion"`
	Description     string         `json:"Description"`
	RoutingConfig   *routingConfig `json:"RoutingConfig,omitempty"`
	RevisionId      string         `json:"RevisionId"`
}

func (s *Server) alias(a *kumo.Alias) aliasConfiguration {
	c := aliasConfiguration{
		AliasArn:        s.scope.QualifiedARN(a.Function, a.Name),
		Name:            a.Name,
		FunctionVersion: a.FunctionVersion,
		Description:     a.Description,
		RevisionId:      a.RevisionID,
	}
	if len(a.AdditionalVersionWeights) > 0 {
		c.RoutingConfig = &routingConfig{AdditionalVersionWeights: a.AdditionalVersionWeights}
	}
	return c
}

func (s *Server) createAlias(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req aliasRequest
	if err := decode(body, &req); err != nil {
		return err
	}
	if req.RevisionId != "" {
		return kumo.Errorf(kumo.ErrInvalidRequestContent, "Could not parse request body into json: Unrecognized field \"RevisionId\", not marked as ignorable")
	}
	a, err := s.control.CreateAlias(r.Context(), r.PathValue("name"), req.Name, req.input())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.alias(a))
	return nil
}

func (s *Server) getAlias(w http.ResponseWriter, r *http.Request, _ []byte) error {
	a, err := s.control.GetAlias(r.Context(), r.PathValue("name"), r.PathValue("alias"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.alias(a))
	return nil
}

func (s *Server) updateAlias(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req aliasRequest
	if err := decode(body, &req); err != nil {
		return err
	}
	if req.Name != "" {
		return kumo.Errorf(kumo.ErrInvalidRequestContent, "Could not parse request body into json: Unrecognized field \"Name\", not marked as ignorable")
	}
	a, err := s.control.UpdateAlias(r.Context(), r.PathValue("name"), r.PathValue("alias"), req.input())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.alias(a))
	return nil
}

func (s *Server) deleteAlias(w http.ResponseWriter, r *http.Request, _ []byte) error {
	if err := s.control.DeleteAlias(r.Context(), r.PathValue("name"), r.PathValue("alias")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listAliases(w http.ResponseWriter, r *http.Request, _ []byte) error {
	n, err := parseMaxItems(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	aliases, next, err := s.control.ListAliases(r.Context(), r.PathValue("name"), q.Get("FunctionVersion"), q.Get("Marker"), n)
	if err != nil {
		return err
	}
	out := make([]aliasConfiguration, 0, len(aliases))
	for _, a := range aliases {
		out = append(out, s.alias(a))
	}
	resp := map[string]any{"Aliases": out}
	if next != "" {
		resp["NextMarker"] = next
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

type concurrencyRequest struct {
	ReservedConcurrentExecutions *int `json:"ReservedConcurrentExecutions"`
}

func (s *Server) putConcurrency(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req concurrencyRequest
	if err := decode(body, &req); err != nil {
		return err
	}
	n, err := s.control.PutFunctionConcurrency(r.Context(), r.PathValue("name"), req.ReservedConcurrentExecutions)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"ReservedConcurrentExecutions": n})
	return nil
}

func (s *Server) getConcurrency(w http.ResponseWriter, r *http.Request, _ []byte) error {
	n, err := s.control.GetFunctionConcurrency(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	if n == nil {
		writeJSON(w, http.StatusOK, map[string]any{})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]int{"ReservedConcurrentExecutions": *n})
	return nil
}

func (s *Server) deleteConcurrency(w http.ResponseWriter, r *http.Request, _ []byte) error {
	if err := s.control.DeleteFunctionConcurrency(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
