// Package hosts renders the cluster-wide /etc/hosts file the test-only node agent bind-mounts
// into every container, standing in for cluster DNS (there is no CoreDNS and no kube-proxy in
// the local cluster), and rewrites it in place so existing bind mounts see each update.
//
// It must not depend on client-go: the agent turns API objects into Pod and Service values.
package hosts

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
)

// Pod is a running pod that has a hostname and subdomain (StatefulSet pods do).
type Pod struct {
	Namespace, Hostname, Subdomain, IP string
}

// Service maps a Service to the pod IPs behind it.
type Service struct {
	Namespace, Name string
	IPs             []string
}

// Domain is the cluster domain suffix.
const Domain = "cluster.local"

// Render returns the hosts file: localhost first, then pods, then services, each group
// sorted so identical inputs produce identical files.
func Render(pods []Pod, services []Service) []byte {
	var b bytes.Buffer
	b.WriteString("# Written by the insight test node agent: pod and service names of the local cluster.\n")
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	ps := slices.Clone(pods)
	slices.SortFunc(ps, func(a, b Pod) int {
		return strings.Compare(a.Namespace+"/"+a.Subdomain+"/"+a.Hostname, b.Namespace+"/"+b.Subdomain+"/"+b.Hostname)
	})
	for _, p := range ps {
		if p.IP == "" || p.Hostname == "" || p.Subdomain == "" {
			continue
		}
		base := p.Hostname + "." + p.Subdomain
		fmt.Fprintf(&b, "%s\t%s.%s.svc.%s %s.%s.svc %s.%s %s\n", p.IP, base, p.Namespace, Domain, base, p.Namespace, base, p.Namespace, base)
	}
	ss := slices.Clone(services)
	slices.SortFunc(ss, func(a, b Service) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	for _, s := range ss {
		ips := slices.Clone(s.IPs)
		slices.Sort(ips)
		for _, ip := range slices.Compact(ips) {
			fmt.Fprintf(&b, "%s\t%s.%s.svc.%s %s.%s.svc %s.%s\n", ip, s.Name, s.Namespace, Domain, s.Name, s.Namespace, s.Name, s.Namespace)
		}
	}
	return b.Bytes()
}

// WriteInPlace replaces the content of path without replacing its inode, so bind mounts of
// the file keep seeing it. It skips the write when the content is unchanged.
func WriteInPlace(path string, content []byte) (bool, error) {
	old, err := os.ReadFile(path)
	if err == nil && bytes.Equal(old, content) {
		return false, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return false, fmt.Errorf("open hosts file: %w", err)
	}
	defer f.Close()
	// Write first, then truncate, so a reader sees either old-length or the full new content.
	if _, err := f.WriteAt(content, 0); err != nil {
		return false, fmt.Errorf("write hosts file %s: %w", path, err)
	}
	if err := f.Truncate(int64(len(content))); err != nil {
		return false, fmt.Errorf("truncate hosts file %s: %w", path, err)
	}
	return true, nil
}
