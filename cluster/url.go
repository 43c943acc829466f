package cluster

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// ErrBadURL means a --cluster URL is not etcd://HOST:PORT[,HOST:PORT…].
var ErrBadURL = errors.New("cluster: bad etcd URL")

// ParseURL returns the endpoints of an etcd://HOST:PORT[,HOST:PORT…] URL
// in the form the etcd client dials ("HOST:PORT"). Every host needs an
// explicit port; user info, paths, queries and fragments are refused, so a
// typo is an error at start rather than a dial to somewhere unexpected.
func ParseURL(s string) ([]string, error) {
	rest, ok := strings.CutPrefix(s, "etcd://")
	if !ok {
		return nil, fmt.Errorf("%w %q: want etcd://HOST:PORT[,HOST:PORT…]", ErrBadURL, s)
	}
	if strings.ContainsAny(rest, "/?#@") {
		return nil, fmt.Errorf("%w %q: only HOST:PORT pairs may follow etcd:// (no path, query, user or fragment)", ErrBadURL, s)
	}
	if rest == "" {
		return nil, fmt.Errorf("%w %q: no endpoints", ErrBadURL, s)
	}
	var eps []string
	seen := make(map[string]bool)
	for _, hp := range strings.Split(rest, ",") {
		ep, err := parseEndpoint(hp)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %v", ErrBadURL, s, err)
		}
		if seen[ep] {
			return nil, fmt.Errorf("%w %q: endpoint %s given twice", ErrBadURL, s, ep)
		}
		seen[ep] = true
		eps = append(eps, ep)
	}
	return eps, nil
}

// parseEndpoint checks one HOST:PORT.
func parseEndpoint(hp string) (string, error) {
	if hp == "" {
		return "", errors.New("empty endpoint (a stray comma?)")
	}
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return "", fmt.Errorf("endpoint %q: want HOST:PORT", hp)
	}
	if host == "" {
		return "", fmt.Errorf("endpoint %q: no host", hp)
	}
	if strings.ContainsAny(host, " \t%") {
		return "", fmt.Errorf("endpoint %q: bad host", hp)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || port != strconv.Itoa(n) {
		return "", fmt.Errorf("endpoint %q: port must be 1-65535", hp)
	}
	return net.JoinHostPort(host, port), nil
}

// parseAdvertise checks a node's advertise URL: an absolute http or https
// URL with a host and nothing after it but an optional "/".
func parseAdvertise(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("advertise URL %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("advertise URL %q: want http:// or https://", s)
	}
	if u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("advertise URL %q: want SCHEME://HOST[:PORT] only", s)
	}
	return u.Scheme + "://" + u.Host, nil
}
