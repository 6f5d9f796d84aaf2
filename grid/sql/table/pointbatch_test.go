package table

import (
	"context"
	"errors"
	"testing"

	"github.com/redis/go-redis/v9"
)

// replyError is an error reply as go-redis gives it.
type replyError string

func (e replyError) Error() string { return string(e) }
func (e replyError) RedisError()   {}

// TestResendOnlyRedirectsAndFailures checks which lookups in a batch go again through the
// cluster client: redirected, refused for now, or failed on the way; not those whose
// command answered an error of its own.
func TestResendOnlyRedirectsAndFailures(t *testing.T) {
	var _ redis.Error = replyError("")
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{replyError("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
		{replyError("ERR unknown command"), false},
		{replyError("MOVED 3999 127.0.0.1:6381"), true},
		{replyError("ASK 3999 127.0.0.1:6381"), true},
		{replyError("TRYAGAIN Multiple keys request during rehashing of slot"), true},
		{replyError("CLUSTERDOWN The cluster is down"), true},
		{replyError("LOADING Redis is loading the dataset in memory"), true},
		{errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: connection reset by peer"), true},
		{context.DeadlineExceeded, true},
	} {
		if got := resend(tc.err); got != tc.want {
			t.Errorf("resend(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
