// Command testapp is the node agent tests' container payload: a static HTTP server that
// reports its environment and what it can see of its sandbox.
//
//	testapp [serve]     serve HTTP on $INSIGHT_BIND:${PORT:-8080}; on SIGTERM write
//	                    "terminated" to $TERM_MARKER (if set) and exit 0
//	testapp exit CODE   exit with CODE at once
//	testapp touch PATH  create PATH (exit 1 if it cannot)
//	testapp info        print what /info serves as JSON
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	args := os.Args[1:]
	if len(args) == 0 {
		args = []string{"serve"}
	}
	switch args[0] {
	case "exit":
		code, _ := strconv.Atoi(args[1])
		fmt.Println("exiting with", code)
		os.Exit(code)
	case "touch":
		if err := os.WriteFile(args[1], []byte("x"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case "info":
		_ = json.NewEncoder(os.Stdout).Encode(info())
	case "serve":
		serve()
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", args[0])
		os.Exit(2)
	}
}

func serve() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(os.Getenv("INSIGHT_BIND"), port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	http.HandleFunc("/info", func(w http.ResponseWriter, _ *http.Request) { _ = json.NewEncoder(w).Encode(info()) })
	http.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(r.URL.Query().Get("path"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		_, _ = w.Write(b)
	})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	go func() {
		<-sig
		if m := os.Getenv("TERM_MARKER"); m != "" {
			_ = os.WriteFile(m, []byte("terminated"), 0o644)
		}
		fmt.Println("got SIGTERM")
		os.Exit(0)
	}()
	fmt.Println("listening on", ln.Addr())
	_ = http.Serve(ln, nil)
}

// Info is what the container sees of its sandbox.
type Info struct {
	Env          map[string]string `json:"env"`
	Hostname     string            `json:"hostname"`
	UID          int               `json:"uid"`
	GID          int               `json:"gid"`
	Groups       []int             `json:"groups"`
	Args         []string          `json:"args"`
	Hosts        string            `json:"hosts"`
	Resolv       string            `json:"resolv"`
	WD           string            `json:"wd"`
	RootWritable bool              `json:"rootWritable"`
	Dev          []string          `json:"dev"`
}

func info() Info {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	host, _ := os.Hostname()
	hosts, _ := os.ReadFile("/etc/hosts")
	resolv, _ := os.ReadFile("/etc/resolv.conf")
	wd, _ := os.Getwd()
	groups, _ := os.Getgroups()
	writeErr := os.WriteFile("/rootfs-write-test", []byte("x"), 0o644)
	var dev []string
	if ents, err := os.ReadDir("/dev"); err == nil {
		for _, e := range ents {
			dev = append(dev, e.Name())
		}
	}
	return Info{Env: env, Hostname: host, UID: os.Getuid(), GID: os.Getgid(), Groups: groups, Args: os.Args,
		Hosts: string(hosts), Resolv: string(resolv), WD: wd, RootWritable: writeErr == nil, Dev: dev}
}
