package server

import (
	"net/http"

	"github.com/kumo-dev/kumo/runtime/internal/control"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

// accessRoutes registers the function URL config and permission calls.
func (s *Server) accessRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /2021-10-31/functions/{name}/url", s.api(maxSmallBody, s.createFunctionURLConfig))
	m.HandleFunc("GET /2021-10-31/functions/{name}/url", s.api(0, s.getFunctionURLConfig))
	m.HandleFunc("PUT /2021-10-31/functions/{name}/url", s.api(maxSmallBody, s.updateFunctionURLConfig))
	m.HandleFunc("DELETE /2021-10-31/functions/{name}/url", s.api(0, s.deleteFunctionURLConfig))
	m.HandleFunc("GET /2021-10-31/functions/{name}/urls", s.api(0, s.listFunctionURLConfigs))
	m.HandleFunc("POST /2015-03-31/functions/{name}/policy", s.api(maxSmallBody, s.addPermission))
	m.HandleFunc("GET /2015-03-31/functions/{name}/policy", s.api(0, s.getPolicy))
	m.HandleFunc("DELETE /2015-03-31/functions/{name}/policy/{sid}", s.api(0, s.removePermission))
}

// corsWire is the model's Cors shape.
type corsWire struct {
	AllowCredentials *bool    `json:"AllowCredentials,omitempty"`
	AllowHeaders     []string `json:"AllowHeaders,omitempty"`
	AllowMethods     []string `json:"AllowMethods,omitempty"`
	AllowOrigins     []string `json:"AllowOrigins,omitempty"`
	ExposeHeaders    []string `json:"ExposeHeaders,omitempty"`
	MaxAge           *int     `json:"MaxAge,omitempty"`
}

func (c *corsWire) cors() *kumo.Cors {
	if c == nil {
		return nil
	}
	out := &kumo.Cors{
		AllowHeaders:  c.AllowHeaders,
		AllowMethods:  c.AllowMethods,
		AllowOrigins:  c.AllowOrigins,
		ExposeHeaders: c.ExposeHeaders,
	}
	if c.AllowCredentials != nil {
		out.AllowCredentials = *c.AllowCredentials
	}
	if c.MaxAge != nil {
		out.MaxAge = *c.MaxAge
	}
	return out
}

func wireCors(c *kumo.Cors) *corsWire {
	if c == nil {
		return nil
	}
	creds, age := c.AllowCredentials, c.MaxAge
	return &corsWire{
		AllowCredentials: &creds,
		AllowHeaders:     c.AllowHeaders,
		AllowMethods:     c.AllowMethods,
		AllowOrigins:     c.AllowOrigins,
		ExposeHeaders:    c.ExposeHeaders,
		MaxAge:           &age,
	}
}

type urlConfigRequest struct {
	AuthType   *string   `json:"AuthType"`
	Cors       *corsWire `json:"Cors"`
	InvokeMode *string   `json:"InvokeMode"`
}

type urlConfigResponse struct {
	FunctionUrl      string    `json:"FunctionUrl"`
	FunctionArn      string    `json:"FunctionArn"`
	AuthType         string    `json:"AuthType"`
	Cors             *corsWire `json:"Cors,omitempty"`
	CreationTime     string    `json:"CreationTime"`
	LastModifiedTime string    `json:"LastModifiedTime,omitempty"`
	InvokeMode       string    `json:"InvokeMode"`
}

// urlPathPrefix starts the path form of a function URL:
// http://HOST/lambda-url/<url-id>/<path>.
const urlPathPrefix = "/lambda-url/"

// functionURL is the URL handed out for a config: the path form on the
// address the caller reached this host at, which is the listener's.
func functionURL(r *http.Request, id string) string {
	return "http://" + r.Host + urlPathPrefix + id + "/"
}

func (s *Server) urlConfig(r *http.Request, c *kumo.FunctionURLConfig, modified bool) urlConfigResponse {
	out := urlConfigResponse{
		FunctionUrl:  functionURL(r, c.ID),
		FunctionArn:  s.scope.QualifiedARN(c.Function, c.Qualifier),
		AuthType:     c.AuthType,
		Cors:         wireCors(c.Cors),
		CreationTime: kumo.LambdaTime(c.CreationTime),
		InvokeMode:   c.InvokeMode,
	}
	if modified {
		out.LastModifiedTime = kumo.LambdaTime(c.LastModifiedTime)
	}
	return out
}

func (in urlConfigRequest) input() control.URLConfigInput {
	return control.URLConfigInput{AuthType: in.AuthType, Cors: in.Cors.cors(), InvokeMode: in.InvokeMode}
}

func (s *Server) createFunctionURLConfig(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req urlConfigRequest
	if err := decode(body, &req); err != nil {
		return err
	}
	c, err := s.control.CreateFunctionURLConfig(r.Context(), r.PathValue("name"), r.URL.Query().Get("Qualifier"), req.input())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.urlConfig(r, c, false))
	return nil
}

func (s *Server) getFunctionURLConfig(w http.ResponseWriter, r *http.Request, _ []byte) error {
	c, err := s.control.GetFunctionURLConfig(r.Context(), r.PathValue("name"), r.URL.Query().Get("Qualifier"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.urlConfig(r, c, true))
	return nil
}

func (s *Server) updateFunctionURLConfig(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req urlConfigRequest
	if err := decode(body, &req); err != nil {
		return err
	}
	c, err := s.control.UpdateFunctionURLConfig(r.Context(), r.PathValue("name"), r.URL.Query().Get("Qualifier"), req.input())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.urlConfig(r, c, true))
	return nil
}

func (s *Server) deleteFunctionURLConfig(w http.ResponseWriter, r *http.Request, _ []byte) error {
	if err := s.control.DeleteFunctionURLConfig(r.Context(), r.PathValue("name"), r.URL.Query().Get("Qualifier")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listFunctionURLConfigs(w http.ResponseWriter, r *http.Request, _ []byte) error {
	q := r.URL.Query()
	maxItems, err := parseMaxItems(r)
	if err != nil {
		return err
	}
	cs, next, err := s.control.ListFunctionURLConfigs(r.Context(), r.PathValue("name"), q.Get("Marker"), maxItems)
	if err != nil {
		return err
	}
	out := make([]urlConfigResponse, 0, len(cs))
	for _, c := range cs {
		out = append(out, s.urlConfig(r, c, true))
	}
	resp := map[string]any{"FunctionUrlConfigs": out}
	if next != "" {
		resp["NextMarker"] = next
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
