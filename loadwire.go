package main

// The wire side of cubby bench's load generator: each worker keeps one
// keep-alive HTTP/1.1 connection and writes its requests as bytes built
// once, reading back only what it needs (the status line, the framing
// headers) and discarding the body. Measured against a cubby's /healthz,
// it took about 7 µs of user CPU a request and 15 µs of system CPU (the
// kernel's loopback TCP, which any client pays), against about 90 µs in all
// for the net/http client it replaced; on a machine it shares with the
// server it still takes a share of what it measures, and bench prints how
// much.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"strconv"
	"time"
)

// wireRequest is one request, ready to write, and the status it must get.
type wireRequest struct {
	raw  []byte
	want int
}

// newWireRequest builds method path for host, with the session cookie
// (may be empty) and a JSON body (may be nil).
func newWireRequest(method, host, path, cookie string, body []byte, want int) wireRequest {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: cubby-bench\r\n", method, path, host)
	if cookie != "" {
		fmt.Fprintf(&b, "Cookie: %s\r\n", cookie)
	}
	if body != nil {
		fmt.Fprintf(&b, "Content-Type: application/json\r\nContent-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.Write(body)
	return wireRequest{raw: b.Bytes(), want: want}
}

// wireConn is one worker's connection; it dials again after a failure.
type wireConn struct {
	addr    string
	timeout time.Duration
	conn    net.Conn
	br      *bufio.Reader
}

// close drops the connection, if any.
func (c *wireConn) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.br = nil, nil
	}
}

// do sends req and reads its answer, checking the status. After an error
// the connection is closed; the next do dials a new one.
func (c *wireConn) do(req wireRequest) error {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.addr, c.timeout)
		if err != nil {
			return err
		}
		c.conn, c.br = conn, bufio.NewReaderSize(conn, 16<<10)
	}
	c.conn.SetDeadline(time.Now().Add(c.timeout)) //nolint:errcheck // a failed write or read says the same
	status, keep, err := c.exchange(req.raw)
	if err != nil || !keep {
		c.close()
	}
	if err != nil {
		return err
	}
	if status != req.want {
		return fmt.Errorf("status %d, want %d", status, req.want)
	}
	return nil
}

// exchange writes raw and reads one answer, discarding its body. keep says
// whether the connection may carry another request.
func (c *wireConn) exchange(raw []byte) (status int, keep bool, err error) {
	if _, err := c.conn.Write(raw); err != nil {
		return 0, false, err
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, false, fmt.Errorf("malformed status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("malformed status line %q", line)
	}
	length, chunked, keep, err := c.readHeader()
	if err != nil {
		return 0, false, err
	}
	switch {
	case chunked:
		_, err = io.Copy(io.Discard, httputil.NewChunkedReader(c.br))
		if err == nil {
			_, _, _, err = c.readHeader() // the trailer's end
		}
	case length > 0:
		_, err = c.br.Discard(length)
	case length < 0 && status != 204 && status != 304:
		return status, false, errors.New("an answer without a length on a keep-alive connection")
	}
	return status, keep, err
}

// readHeader reads header lines up to the blank one, noting how the body
// is framed and whether the server will close the connection.
func (c *wireConn) readHeader() (length int, chunked, keep bool, err error) {
	length, keep = -1, true
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return 0, false, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			return length, chunked, keep, nil
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, false, false, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			keep = !bytes.EqualFold(value, []byte("close"))
		}
	}
}
