package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/kumo-dev/kumo/runtime/client"
)

func gcCommand() *cobra.Command {
	var opts client.Options
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Remove images, blobs and unpacked layers nothing live needs",
		Long: `Collect garbage in the host's image store now, instead of waiting for the
periodic collection (--gc-interval of kumo server). Images of functions, their
published versions, layer versions, tagged registry images and the roots of
running sandboxes are kept, and so is anything written more recently than the
grace period (default: the server's --gc-grace).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client.New(cmd.Context(), opts)
			if err != nil {
				return err
			}
			var g *time.Duration
			if cmd.Flags().Changed("grace") {
				g = &grace
			}
			st, err := c.CollectGarbage(cmd.Context(), g)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %d blobs (%d bytes), %d unpacked layers, %d images; kept %d images; %d recent items spared\n",
				st.Blobs, st.BlobBytes, st.Layers, st.Images, st.Kept, st.GraceSkips)
			return nil
		},
	}
	clientFlags(cmd, &opts)
	cmd.Flags().DurationVar(&grace, "grace", 0, "spare what was written or used within this long (default: the server's)")
	return cmd
}
