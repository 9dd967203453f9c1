package server

import (
	"net/http"

	"github.com/kumo-dev/kumo/runtime/internal/control"
)

type addPermissionRequest struct {
	StatementId           string `json:"StatementId"`
	Action                string `json:"Action"`
	Principal             string `json:"Principal"`
	SourceArn             string `json:"SourceArn"`
	SourceAccount         string `json:"SourceAccount"`
	EventSourceToken      string `json:"EventSourceToken"`
	RevisionId            string `json:"RevisionId"`
	PrincipalOrgID        string `json:"PrincipalOrgID"`
	FunctionUrlAuthType   string `json:"FunctionUrlAuthType"`
	InvokedViaFunctionUrl *bool  `json:"InvokedViaFunctionUrl"`
}

func (s *Server) addPermission(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req addPermissionRequest
	if err := decode(body, &req); err != nil {
		return err
	}
	st, err := s.control.AddPermission(r.Context(), r.PathValue("name"), r.URL.Query().Get("Qualifier"), control.PermissionInput{
		StatementID:           req.StatementId,
		Action:                req.Action,
		Principal:             req.Principal,
		SourceArn:             req.SourceArn,
		SourceAccount:         req.SourceAccount,
		EventSourceToken:      req.EventSourceToken,
		RevisionID:            req.RevisionId,
		PrincipalOrgID:        req.PrincipalOrgID,
		FunctionURLAuthType:   req.FunctionUrlAuthType,
		InvokedViaFunctionURL: req.InvokedViaFunctionUrl,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"Statement": st})
	return nil
}

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request, _ []byte) error {
	doc, rev, err := s.control.GetPolicy(r.Context(), r.PathValue("name"), r.URL.Query().Get("Qualifier"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"Policy": doc, "RevisionId": rev})
	return nil
}

func (s *Server) removePermission(w http.ResponseWriter, r *http.Request, _ []byte) error {
	q := r.URL.Query()
	if err := s.control.RemovePermission(r.Context(), r.PathValue("name"), q.Get("Qualifier"), r.PathValue("sid"), q.Get("RevisionId")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
