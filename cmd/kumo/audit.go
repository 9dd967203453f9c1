package main

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/kumo-dev/kumo/runtime/client"
)

func auditCommand() *cobra.Command {
	var opts client.Options
	var follow bool
	var after uint64
	var output string
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Print the host's audit log of control-plane calls",
		Long: `Print the host's audit log: one line per control-plane call (everything but
invocations), oldest first, with when, who (the access key id, or
"anonymous"/"invalid" when authentication failed), from where, which operation
on which function, and the result. The log is bounded: the oldest records are
dropped first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("output %q: want text or json", output)
			}
			c, err := client.New(cmd.Context(), opts)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			enc := json.NewEncoder(out)
			err = c.Audit(cmd.Context(), after, follow, func(r client.AuditRecord) error {
				if output == "json" {
					return enc.Encode(r)
				}
				_, err := fmt.Fprintln(out, formatAudit(r))
				return err
			})
			if err != nil && cmd.Context().Err() != nil {
				return nil // interrupted while following
			}
			return err
		},
	}
	clientFlags(cmd, &opts)
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new records")
	cmd.Flags().Uint64Var(&after, "after", 0, "print only records after this sequence number")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json (one record per line)")
	return cmd
}

// formatAudit writes fixed-width columns rather than using a tabwriter,
// which would hold lines back until the end that never comes when
// following.
func formatAudit(r client.AuditRecord) string {
	result := strconv.Itoa(r.Status)
	if r.ErrorCode != "" {
		result += " " + r.ErrorCode
	}
	fn := r.Function
	if fn == "" {
		fn = "-"
	}
	return fmt.Sprintf("%-6d %s %-20s %-15s %-28s %-6s %s %s %s %s",
		r.Seq, r.Time.UTC().Format("2006-01-02T15:04:05.000Z"), r.Principal, r.Source,
		r.Operation, r.Method, fn, r.Path, result, r.RequestID)
}
