package config

import (
	"flag"
	"strings"
	"testing"
)

func TestParseEnvFallback(t *testing.T) {
	env := map[string]string{"INSIGHT_PARTITION": "2", "INSIGHT_ETCD_ENDPOINTS": "a:2379", "INSIGHT_PORT": "x"}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantP   int
		wantEP  string
		wantErr string
	}{
		{"env used", nil, map[string]string{"INSIGHT_PARTITION": "2", "INSIGHT_ETCD_ENDPOINTS": "a:2379"}, 2, "a:2379", ""},
		{"flag wins", []string{"--partition", "1"}, map[string]string{"INSIGHT_PARTITION": "2"}, 1, "", ""},
		{"bad env names the variable", nil, env, 0, "", `invalid value "x" for INSIGHT_PORT (flag --port)`},
		{"stray argument", []string{"extra"}, nil, 0, "", `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("data", flag.ContinueOnError)
			p := fs.Int("partition", 0, "")
			ep := fs.String("etcd-endpoints", "", "")
			fs.Int("port", 6379, "")
			err := Parse(fs, tt.args, func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || *p != tt.wantP || *ep != tt.wantEP {
				t.Fatalf("partition %d endpoints %q err %v", *p, *ep, err)
			}
		})
	}
}
