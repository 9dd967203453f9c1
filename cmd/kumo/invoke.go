package main

import (
	"encoding/base64"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/spf13/cobra"

	"github.com/kumo-dev/kumo/runtime/client"
)

func clientFlags(cmd *cobra.Command, opts *client.Options) {
	cmd.Flags().StringVar(&opts.Endpoint, "endpoint", "", "host URL (default: $KUMO_ENDPOINT, $AWS_ENDPOINT_URL_LAMBDA or "+client.DefaultEndpoint+")")
	cmd.Flags().StringVar(&opts.DataDir, "data-dir", "", "data dir whose credentials to use when no AWS credentials are configured (default: $KUMO_DATA_DIR or /var/lib/kumo)")
}

func invokeCommand() *cobra.Command {
	var opts client.Options
	var payload, qualifier, invocationType string
	var showLog bool
	cmd := &cobra.Command{
		Use:   "invoke FUNCTION",
		Short: "Invoke a function and print its response",
		Long:  "Invoke a function synchronously and print its response. A function error prints Lambda's error shape and exits with status 1.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client.New(cmd.Context(), opts)
			if err != nil {
				return err
			}
			in := &lambda.InvokeInput{FunctionName: aws.String(args[0]), Payload: []byte(payload)}
			if qualifier != "" {
				in.Qualifier = aws.String(qualifier)
			}
			in.InvocationType = lambdatypes.InvocationType(invocationType)
			if showLog {
				in.LogType = lambdatypes.LogTypeTail
			}
			out, err := c.Lambda().Invoke(cmd.Context(), in)
			if err != nil {
				return err
			}
			if showLog && out.LogResult != nil {
				logText, err := base64.StdEncoding.DecodeString(*out.LogResult)
				if err == nil {
					fmt.Fprint(os.Stderr, string(logText))
				}
			}
			if out.StatusCode != 200 {
				// Event (202) and DryRun (204) have no payload: say what happened.
				fmt.Fprintf(cmd.OutOrStdout(), "{\"StatusCode\": %d}\n", out.StatusCode)
				return nil
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(out.Payload))
			if out.FunctionError != nil {
				return exitCode(1)
			}
			return nil
		},
	}
	clientFlags(cmd, &opts)
	cmd.Flags().StringVar(&payload, "payload", "{}", "event JSON")
	cmd.Flags().StringVar(&qualifier, "qualifier", "", "version or alias")
	cmd.Flags().StringVar(&invocationType, "invocation-type", "RequestResponse", "RequestResponse, Event (asynchronous) or DryRun")
	cmd.Flags().BoolVar(&showLog, "log", false, "print the invocation's log tail to stderr")
	return cmd
}

func logsCommand() *cobra.Command {
	var opts client.Options
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs FUNCTION",
		Short: "Print a function's logs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client.New(cmd.Context(), opts)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			err = c.Logs(cmd.Context(), args[0], 0, follow, func(r client.LogRecord) error {
				_, err := fmt.Fprint(out, r.Data)
				return err
			})
			if err != nil && cmd.Context().Err() != nil {
				return nil // interrupted while following
			}
			return err
		},
	}
	clientFlags(cmd, &opts)
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new log records")
	return cmd
}
