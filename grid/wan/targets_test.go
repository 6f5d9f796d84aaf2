package wan

import (
	"slices"
	"strings"
	"testing"
)

var testFlags = TargetFlags{Site: "--site", Target: "--t", CA: "--t-ca", TokenFile: "--t-token", ServerName: "--t-name"}

func TestParseTargets(t *testing.T) {
	got, err := ParseTargets(testFlags, []string{"paris=127.0.0.1:1", "tokyo=127.0.0.1:2"}, []string{"tokyo=/t/ca"}, []string{"paris=/p/tok", "tokyo=/t/tok"}, []string{"tokyo=gw.tokyo"})
	want := []GatewayTarget{{Name: "paris", Address: "127.0.0.1:1", TokenFile: "/p/tok"}, {Name: "tokyo", Address: "127.0.0.1:2", CAFile: "/t/ca", TokenFile: "/t/tok", ServerName: "gw.tokyo"}}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("ParseTargets = %+v, %v; want %+v", got, err, want)
	}
	for _, tt := range []struct {
		name                      string
		addrs, cas, tokens, hosts []string
		want                      string
	}{
		{"no address", []string{"paris"}, nil, nil, nil, `--t "paris": want NAME=HOST:PORT`},
		{"token without a name", nil, nil, []string{"paris"}, nil, `--t-token "paris": want NAME=FILE`},
		{"CA of an unknown site", []string{"paris=a:1"}, []string{"tokyo=/ca"}, nil, nil, "--t-ca tokyo: no --t tokyo=HOST:PORT names that site"},
		{"empty server name", []string{"paris=a:1"}, nil, nil, []string{"paris="}, `--t-name "paris=": want NAME=HOST`},
	} {
		if _, err := ParseTargets(testFlags, tt.addrs, tt.cas, tt.tokens, tt.hosts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestCheckTargets(t *testing.T) {
	good := GatewayTarget{Name: "paris", Address: "gw.paris:7443", CAFile: "/ca", TokenFile: "/tok"}
	if errs := CheckTargets(testFlags, "london", []GatewayTarget{good}, false); len(errs) != 0 {
		t.Errorf("a good target refused: %v", errs)
	}
	for _, tt := range []struct {
		name     string
		mod      func(*GatewayTarget)
		insecure bool
		want     string
	}{
		{"bad name", func(g *GatewayTarget) { g.Name = "Paris" }, false, "--t "},
		{"this site", func(g *GatewayTarget) { g.Name = "london" }, false, "--t london: that is this site (--site)"},
		{"no port", func(g *GatewayTarget) { g.Address = "gw.paris" }, false, `--t paris="gw.paris": want NAME=HOST:PORT`},
		{"no token", func(g *GatewayTarget) { g.TokenFile = "" }, false, "--t paris: give --t-ca paris=FILE and --t-token paris=FILE"},
		{"insecure with a CA", func(g *GatewayTarget) { g.TokenFile = "" }, true, "--t paris: --insecure sends in plain"},
	} {
		g := good
		tt.mod(&g)
		errs := CheckTargets(testFlags, "london", []GatewayTarget{g}, tt.insecure)
		if len(errs) == 0 || !strings.Contains(errs[0].Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, errs, tt.want)
		}
	}
	if errs := CheckTargets(testFlags, "london", []GatewayTarget{good, good}, false); len(errs) != 1 || !strings.Contains(errs[0].Error(), "--t paris given twice") {
		t.Errorf("a target twice: %v", errs)
	}
}
