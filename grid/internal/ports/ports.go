// Package ports finds free loopback ports for tests that start servers on fixed port
// layouts (a local grid, several managers). It prefers ports outside the kernel's
// ephemeral range, so that no outgoing connection takes one between the check and the bind.
package ports

import (
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
)

// FreeBase finds a base port b <= maxBase such that b+off is free on host for every
// offset, preferring ports outside the kernel's ephemeral range, which outgoing
// connections (this test's clients among them) take at any moment.
func FreeBase(host string, offsets []int, maxBase int) (int, error) {
	free := func(p int) bool {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			return false
		}
		ln.Close()
		return true
	}
	hi := slices.Max(offsets)
	ephLo, ephHi := 32768, 60999
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if lo, err1 := strconv.Atoi(f[0]); err1 == nil {
				if h, err2 := strconv.Atoi(f[1]); err2 == nil {
					ephLo, ephHi = lo, h
				}
			}
		}
	}
	var ranges [][2]int // candidate [first, last] bases
	maxBase = min(maxBase, 65535-hi)
	if last := min(ephLo-1-hi, maxBase); last > 10000 {
		ranges = append(ranges, [2]int{10000, last})
	}
	if first, last := ephHi+1, maxBase; last > first {
		ranges = append(ranges, [2]int{first, last})
	}
	for range 200 {
		var p int
		if len(ranges) > 0 {
			r := ranges[rand.IntN(len(ranges))]
			p = r[0] + rand.IntN(r[1]-r[0]+1)
		} else {
			ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
			if err != nil {
				return 0, err
			}
			p = ln.Addr().(*net.TCPAddr).Port
			ln.Close()
			if p > maxBase {
				continue
			}
		}
		ok := true
		for _, off := range offsets {
			if !free(p + off) {
				ok = false
				break
			}
		}
		if ok {
			return p, nil
		}
	}
	return 0, errors.New("no free port range for the grid")
}
