package kumo

import (
	"encoding/json"
	"errors"
)

// MaxPolicyBytes is Lambda's limit on a function's resource policy.
const MaxPolicyBytes = 20 * 1024

// Policy is the resource-based policy of a function or of one of its
// qualifiers, made of AddPermission statements.
type Policy struct {
	Function  string `json:"function"`
	Qualifier string `json:"qualifier,omitempty"`
	// RevisionID changes with every statement added or removed. Lambda
	// uses the function's RevisionId here; kumo keeps the policy's own, so
	// that a permission change does not look like a code change and end
	// warm instances.
	RevisionID string      `json:"revisionId"`
	Statements []Statement `json:"statements"`
}

// Statement is one IAM statement, shaped and ordered as Lambda writes it.
type Statement struct {
	Sid       string    `json:"Sid"`
	Effect    string    `json:"Effect"`
	Principal Principal `json:"Principal"`
	Action    string    `json:"Action"`
	Resource  string    `json:"Resource"`
	// Condition maps an operator (StringEquals, ArnLike, Bool) to its
	// key/value pairs.
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

// Principal is "*" (AWS == "*"), an AWS principal ARN or a service.
type Principal struct {
	AWS     string
	Service string
}

// MarshalJSON writes the forms Lambda writes: "*", {"AWS": arn} or
// {"Service": name}.
func (p Principal) MarshalJSON() ([]byte, error) {
	switch {
	case p.Service != "":
		return json.Marshal(map[string]string{"Service": p.Service})
	case p.AWS == "*":
		return []byte(`"*"`), nil
	default:
		return json.Marshal(map[string]string{"AWS": p.AWS})
	}
}

// UnmarshalJSON reads what MarshalJSON writes.
func (p *Principal) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if s != "*" {
			return errors.New("principal string must be \"*\"")
		}
		*p = Principal{AWS: "*"}
		return nil
	}
	var m struct {
		AWS     string `json:"AWS"`
		Service string `json:"Service"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*p = Principal{AWS: m.AWS, Service: m.Service}
	return nil
}

// Document is the policy as GetPolicy returns it: a JSON string.
func (p *Policy) Document() (string, error) {
	b, err := json.Marshal(struct {
		Version   string      `json:"Version"`
		ID        string      `json:"Id"`
		Statement []Statement `json:"Statement"`
	}{"2012-10-17", "default", p.Statements})
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Clone returns a deep copy.
func (p *Policy) Clone() *Policy {
	if p == nil {
		return nil
	}
	out := *p
	out.Statements = make([]Statement, len(p.Statements))
	for i, st := range p.Statements {
		if st.Condition != nil {
			cond := make(map[string]map[string]string, len(st.Condition))
			for op, kv := range st.Condition {
				cond[op] = cloneMap(kv)
			}
			st.Condition = cond
		}
		out.Statements[i] = st
	}
	return &out
}
