package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kumo-dev/kumo/runtime/kumod"
)

func serverCommand() *cobra.Command {
	var cfg kumod.Config
	var logLevel, logFormat string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a kumo runtime host",
		Long: `Run a kumo runtime host: the Lambda API, the Runtime API in runc sandboxes
and the embedded NATS JetStream engine. Every flag can also be set with a
KUMO_* environment variable (--data-dir is KUMO_DATA_DIR).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := envDefaults(cmd.Flags()); err != nil {
				return err
			}
			logger, err := newLogger(logLevel, logFormat)
			if err != nil {
				return err
			}
			cfg.Logger = logger
			d, err := kumod.New(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if d.CreatedCredentials() {
				_, creds := d.Credentials()
				fmt.Fprintf(out, "# wrote new credentials to %s\n", creds)
			}
			fmt.Fprintln(out, "# kumo is listening; point the aws CLI at it with:")
			for _, line := range d.Exports() {
				fmt.Fprintln(out, line)
			}
			return d.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:9001", "address of the Lambda API")
	f.StringVar(&cfg.DataDir, "data-dir", "/var/lib/kumo", "where state, code and credentials live")
	f.StringVar(&cfg.Region, "region", "local", "region used in ARNs and expected in signatures")
	f.StringVar(&cfg.AccountID, "account-id", "000000000000", "12-digit account id used in ARNs")
	f.StringVar(&cfg.NATSURL, "nats-url", "", "external NATS server URL (default: embedded JetStream in the data dir)")
	f.DurationVar(&cfg.IdleTimeout, "idle-timeout", 5*time.Minute, "how long an unused warm sandbox is kept")
	f.IntVar(&cfg.Concurrency, "concurrency", 1000, "account concurrent execution limit")
	f.DurationVar(&cfg.ShutdownGrace, "shutdown-grace", 30*time.Second, "how long in-flight invocations may finish on shutdown")
	f.DurationVar(&cfg.GCInterval, "gc-interval", kumod.DefaultGCInterval, "how often images nothing uses are removed (negative: only on `kumo gc`)")
	f.DurationVar(&cfg.GCGrace, "gc-grace", kumod.DefaultGCGrace, "images, blobs and layers written or used this recently are never collected")
	f.DurationVar(&cfg.AsyncRetryDelay, "async-retry-delay", time.Minute, "wait before the first retry of a failed async event (the second waits twice as long; throttle backoff scales too)")
	f.StringVar(&cfg.Registry, "registry", "", "external OCI registry (host[:port][/path]) to push every function image to and pull missing ones from (credentials: the Docker config file)")
	f.Int64Var(&cfg.MaxImageBytes, "max-image-bytes", kumod.DefaultMaxImageBytes, "largest container image (PackageType Image) accepted, uncompressed")
	f.Int64Var(&cfg.MaxBlobBytes, "max-blob-bytes", 10<<30, "largest blob a client may push to the host's registry (/v2/)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "text or json")
	return cmd
}

// envDefaults sets every flag not given on the command line from its
// KUMO_* variable.
func envDefaults(fs *pflag.FlagSet) error {
	var errs []string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		name := "KUMO_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Sprintf("%s=%q: %v", name, v, err))
			}
		}
	})
	if len(errs) > 0 {
		return fmt.Errorf("invalid environment: %s", strings.Join(errs, "; "))
	}
	return nil
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}
