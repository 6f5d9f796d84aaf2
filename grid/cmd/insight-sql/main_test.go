package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestRunRejectsBadInput checks that bad flags and environment values fail before any
// listener starts, with a message naming the flag or variable.
func TestRunRejectsBadInput(t *testing.T) {
	grid := []string{"--grid", "127.0.0.1:7010"}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		code    int
		wantErr string
	}{
		{"no command", nil, nil, 2, "Usage:"},
		{"unknown command", []string{"server"}, nil, 2, `unknown command "server": want serve or version`},
		{"no grid", []string{"serve"}, nil, 1, "--grid is required"},
		{"grid not host:port", []string{"serve", "--grid", "a:1,b"}, nil, 1, `--grid "a:1,b": "b" is not host:port`},
		{"bad listen", append([]string{"serve", "--listen", "3306"}, grid...), nil, 1, `--listen "3306": want host:port or :port`},
		{"bad http-listen", append([]string{"serve", "--http-listen", "x"}, grid...), nil, 1, `--http-listen "x": want host:port or :port`},
		{"empty user", append([]string{"serve", "--user", ""}, grid...), nil, 1, "--user is empty"},
		{"negative rows", append([]string{"serve", "--max-result-rows", "-1"}, grid...), nil, 1, "--max-result-rows -1: must be 0 (no cap) or positive"},
		{"rows not a number", append([]string{"serve", "--max-result-rows", "many"}, grid...), nil, 1, `invalid value "many" for flag -max-result-rows`},
		{"bad bytes", append([]string{"serve", "--max-result-bytes", "lots"}, grid...), nil, 1, `invalid value "lots" for flag -max-result-bytes`},
		{"negative time", append([]string{"serve", "--max-execution-time", "-1s"}, grid...), nil, 1, "--max-execution-time -1s: must be 0 (none) or at least 1ms"},
		{"bad time", append([]string{"serve", "--max-execution-time", "soon"}, grid...), nil, 1, `invalid value "soon" for flag -max-execution-time`},
		{"log format", append([]string{"serve", "--log-format", "xml"}, grid...), nil, 1, `--log-format "xml": want json or text`},
		{"bad env", []string{"serve"}, map[string]string{"INSIGHT_GRID": "127.0.0.1:1", "INSIGHT_MAX_RESULT_ROWS": "x"}, 1, `invalid value "x" for INSIGHT_MAX_RESULT_ROWS (flag --max-result-rows)`},
		{"argument", append([]string{"serve", "extra"}, grid...), nil, 1, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr, func(k string) string { return tt.env[k] })
			if code != tt.code || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr.String(), tt.code, tt.wantErr)
			}
		})
	}
}

// TestVersionAndDefaults checks the version command and serve's defaults.
func TestVersionAndDefaults(t *testing.T) {
	var stdout bytes.Buffer
	if code := run([]string{"version"}, &stdout, &bytes.Buffer{}, func(string) string { return "" }); code != 0 || strings.TrimSpace(stdout.String()) != "dev" {
		t.Fatalf("version: exit %d, %q", code, stdout.String())
	}
	f, err := parseServe([]string{"--grid", "h:1, h:2"}, &bytes.Buffer{}, func(k string) string {
		if k == "INSIGHT_REQUIREPASS" {
			return "pw"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	c := f.cfg
	if c.Listen != ":3306" || c.HTTPListen != ":9104" || c.User != "insight" || c.MaxResultRows != 1000000 ||
		c.MaxExecution != 0 || c.Pprof || c.Password != "pw" || strings.Join(c.Grid, ",") != "h:1,h:2" {
		t.Errorf("defaults: %+v", c)
	}
}
