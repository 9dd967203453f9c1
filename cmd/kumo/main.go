// Command kumo is kumo's one CLI: `kumo server` runs a runtime host,
// `kumo invoke` and `kumo logs` talk to one.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kumo-dev/kumo/runtime/kumod"
)

// init hands control to libcontainer when this binary was re-executed as a
// sandbox's init process; it must run before anything else.
func init() { kumod.Init() }

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := rootCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		var exit exitCode
		if errors.As(err, &exit) {
			os.Exit(int(exit))
		}
		fmt.Fprintln(os.Stderr, "kumo:", err)
		os.Exit(1)
	}
}

// exitCode ends the process with a status and no further message.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "kumo",
		Short:         "kumo runs AWS Lambda-compatible functions on your own machines",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serverCommand(), invokeCommand(), logsCommand())
	root.AddCommand(auditCommand())
	root.AddCommand(gcCommand())
	root.AddCommand(runtimeCommand())
	return root
}
