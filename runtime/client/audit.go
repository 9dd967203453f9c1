package client

import (
	"context"
	"time"
)

// AuditRecord is one control-plane call recorded by the host.
type AuditRecord struct {
	Seq        uint64    `json:"seq"`
	Time       time.Time `json:"time"`
	RequestID  string    `json:"requestId"`
	Principal  string    `json:"principal"`
	Source     string    `json:"source"`
	Operation  string    `json:"operation"`
	Method     string    `json:"method"`
	Path       string    `json:"path"`
	Function   string    `json:"function,omitempty"`
	Status     int       `json:"status"`
	ErrorCode  string    `json:"errorCode,omitempty"`
	DurationMs int64     `json:"durationMs"`
}

// Audit calls fn for each audit record after sequence after, oldest first;
// with follow it keeps waiting for new records until ctx ends.
func (c *Client) Audit(ctx context.Context, after uint64, follow bool, fn func(AuditRecord) error) error {
	return readNDJSON(ctx, c, "/kumo/v1/audit", after, follow, "audit log", 1<<20, fn)
}
