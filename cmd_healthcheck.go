package main

// cubby healthcheck: asks a running server whether it is ready to serve,
// for health checks where there is no shell and no curl (a distroless or
// scratch container image: see deploy/Dockerfile).

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

func defineHealthcheck(fs *flag.FlagSet, stdout, _ io.Writer) runFunc {
	addr := fs.String("addr", envOr("CUBBY_ADDR", "127.0.0.1:8080"),
		"address the server listens on; an unspecified host (0.0.0.0, [::]) means this machine (env CUBBY_ADDR)")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	return func(ctx context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if *timeout <= 0 {
			return &usageError{"--timeout must be more than zero"}
		}
		url, err := readyURL(*addr)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		if err := checkReady(ctx, url); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "ready")
		return nil
	}
}

// readyURL is the /readyz of a server listening on addr. A server that
// listens on every address is asked on the loopback one.
func readyURL(addr string) (string, error) {
	// A URL's path or query after the port is not an address: refused here,
	// it was asked at /readyz/readyz and called not ready.
	host, port, err := checkAddr("--addr", addr, false)
	if err != nil {
		return "", err
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}

// checkReady asks url and says why the server is not ready, if it is not.
func checkReady(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("ask %s: %w", url, err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: %s answered %s", url, res.Status)
	}
	return nil
}
