package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kumo-dev/kumo/runtime/client"
)

func runtimeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runtime",
		Short: "List and build the host's managed runtimes",
		Long: `A managed runtime (python3.11, nodejs20.x, ruby3.1, java17, provided.al2023,
provided.al2) runs on a base image that the host builds reproducibly from its
own Debian packages, stores in its image store and serves from its registry
as kumo/runtimes/RUNTIME:latest. The first function of a runtime builds its
image; "kumo runtime build" does it ahead of time.`,
	}
	cmd.AddCommand(runtimeListCommand(), runtimeBuildCommand())
	return cmd
}

func runtimeListCommand() *cobra.Command {
	var opts client.Options
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the runtimes, their base image digests and whether they are built",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client.New(cmd.Context(), opts)
			if err != nil {
				return err
			}
			rts, err := c.Runtimes(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUNTIME\tBUILT\tDIGEST\tPACKAGES")
			for _, r := range rts {
				digest := r.Digest
				if digest == "" {
					digest = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", r.Name, yesNo(r.Built), digest, len(r.Packages))
			}
			return tw.Flush()
		},
	}
	clientFlags(cmd, &opts)
	return cmd
}

func runtimeBuildCommand() *cobra.Command {
	var opts client.Options
	var force bool
	cmd := &cobra.Command{
		Use:   "build RUNTIME",
		Short: "Build a runtime's base image on the host",
		Long: `Build a runtime's base image from the host's Debian packages, unless a current
one is stored; --force rebuilds it anyway (the digest only changes if the
packages did). Prints the image's digest and packages.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client.New(cmd.Context(), opts)
			if err != nil {
				return err
			}
			began := time.Now()
			r, err := c.BuildRuntime(cmd.Context(), args[0], force)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s %s (%d packages, %s)\n", r.Name, r.Digest, len(r.Packages), time.Since(began).Round(time.Millisecond))
			for _, p := range r.Packages {
				fmt.Fprintln(out, "  "+p)
			}
			return nil
		},
	}
	clientFlags(cmd, &opts)
	cmd.Flags().BoolVar(&force, "force", false, "rebuild even if a current image is stored")
	return cmd
}

func yesNo(b bool) string { return map[bool]string{true: "yes", false: "no"}[b] }
