package server

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// client-output-buffer-limit as Redis 7.0's CONFIG takes it: "<class> <hard> <soft>
// <soft-seconds>" groups, all checked before any applies. The grid enforces the pubsub
// class (a subscriber's queue, pubsub.go), which keyspace notifications fill; normal
// clients get their replies as they read them and a backup its journal through the
// replication stream's own bounds, so those classes keep Redis's defaults, which CONFIG
// SET may repeat but not change.

// fixedOutputLimits are the normal and replica classes, as Redis's defaults.
var fixedOutputLimits = map[string]outputLimit{
	"normal": {},
	"slave":  {hard: 256 << 20, soft: 64 << 20, softFor: 60 * time.Second},
}

// getOutputLimits is CONFIG GET client-output-buffer-limit, in Redis's form.
func getOutputLimits(s *Server) string {
	return strings.Join([]string{formatLimit("normal", fixedOutputLimits["normal"]),
		formatLimit("slave", fixedOutputLimits["slave"]), formatLimit("pubsub", s.pubsub.outputLimit())}, " ")
}

// setOutputLimits is CONFIG SET client-output-buffer-limit, with Redis's reasons for
// refusing a value.
func setOutputLimits(s *Server, v string) (func(), string) {
	var args []string
	if v != "" {
		args = strings.Split(v, " ")
	}
	if len(args)%4 != 0 {
		return nil, "Wrong number of arguments in buffer limit configuration."
	}
	var pubsub *outputLimit
	for i := 0; i < len(args); i += 4 {
		class := strings.ToLower(args[i])
		if class == "replica" {
			class = "slave"
		}
		hard, okHard := parseMemory(args[i+1])
		soft, okSoft := parseMemory(args[i+2])
		secs, err := strconv.ParseInt(args[i+3], 10, 64)
		if class != "normal" && class != "slave" && class != "pubsub" {
			return nil, "Invalid client class specified in buffer limit configuration."
		}
		if !okHard || !okSoft || err != nil || secs < 0 {
			return nil, "Error in hard, soft or soft_seconds setting in buffer limit configuration."
		}
		l := outputLimit{hard: hard, soft: soft, softFor: time.Duration(secs) * time.Second}
		if class == "pubsub" {
			pubsub = &l
			continue
		}
		if l != fixedOutputLimits[class] {
			return nil, fmt.Sprintf("the grid enforces the pubsub class only; %q stays %q", args[i],
				formatLimit(class, fixedOutputLimits[class]))
		}
	}
	return func() {
		if pubsub != nil {
			s.pubsub.limit.Store(pubsub)
		}
	}, ""
}

// formatLimit is one class as CONFIG GET reports it.
func formatLimit(class string, l outputLimit) string {
	return fmt.Sprintf("%s %d %d %d", class, l.hard, l.soft, int64(l.softFor/time.Second))
}
