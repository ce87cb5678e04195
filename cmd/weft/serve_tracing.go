package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Tracing for weft serve: --otlp-endpoint (or the standard
// OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) turns on
// an OTLP/HTTP exporter behind a batch span processor; the provider goes to
// server.Config.TracerProvider and is shut down (its last spans flushed)
// once the server has stopped. Without either, tracing is off.

// tracingShutdownTimeout bounds the flush of the last spans at exit.
const tracingShutdownTimeout = 5 * time.Second

// withTracing adds --otlp-endpoint to cmd and runs its Exec with the
// tracer provider the flags and environment ask for, in the context
// (tracerProviderFrom).
func withTracing(cmd *ffcli.Command) *ffcli.Command {
	endpoint := cmd.FlagSet.String("otlp-endpoint", "",
		"send traces of executions and steps to this OTLP/HTTP collector, e.g. http://127.0.0.1:4318 (/v1/traces is appended); "+
			"empty: OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT if set, else no tracing")
	exec := cmd.Exec
	cmd.Exec = func(ctx context.Context, args []string) error {
		tp, err := newTracerProvider(ctx, *endpoint)
		if err != nil {
			return err
		}
		if tp == nil {
			return exec(ctx, args)
		}
		runErr := exec(context.WithValue(ctx, tracerProviderKey{}, trace.TracerProvider(tp)), args)
		flushCtx, cancel := context.WithTimeout(context.Background(), tracingShutdownTimeout)
		defer cancel()
		if err := tp.Shutdown(flushCtx); err != nil {
			err = fmt.Errorf("flush traces: %w", err)
			return errors.Join(runErr, err)
		}
		return runErr
	}
	return cmd
}

type tracerProviderKey struct{}

// tracerProviderFrom is the tracer provider withTracing put in ctx (nil:
// tracing off).
func tracerProviderFrom(ctx context.Context) trace.TracerProvider {
	tp, _ := ctx.Value(tracerProviderKey{}).(trace.TracerProvider)
	return tp
}

// newTracerProvider builds the OTLP/HTTP provider, or returns nil when
// tracing is off: no endpoint in the flag or the environment, or
// OTEL_SDK_DISABLED=true, or OTEL_TRACES_EXPORTER=none. The exporter reads
// the other OTEL_EXPORTER_OTLP_* variables (headers, timeout,
// compression, certificates), the SDK OTEL_TRACES_SAMPLER and OTEL_BSP_*,
// the resource OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
func newTracerProvider(ctx context.Context, endpoint string) (*sdktrace.TracerProvider, error) {
	if !tracingWanted(endpoint) {
		return nil, nil
	}
	var opts []otlptracehttp.Option
	if endpoint != "" {
		target, err := tracesURL(endpoint)
		if err != nil {
			return nil, usageError{"--otlp-endpoint: " + err.Error()}
		}
		opts = append(opts, otlptracehttp.WithEndpointURL(target))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "weft"), attribute.String("service.version", version)),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}

// tracingWanted reports whether the flag or the standard environment
// variables ask for traces.
func tracingWanted(endpoint string) bool {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") || strings.EqualFold(os.Getenv("OTEL_TRACES_EXPORTER"), "none") {
		return false
	}
	return endpoint != "" || os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// tracesURL turns a collector's base URL into its traces endpoint, as
// OTEL_EXPORTER_OTLP_ENDPOINT does: http[s]://host[:port][/prefix] plus
// /v1/traces.
func tracesURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q: want http://host:port or https://host:port, with an optional path prefix", endpoint)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	return u.String(), nil
}
