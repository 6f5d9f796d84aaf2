package manager

import (
	"github.com/insightgrid/insight/cli/validate"
	"github.com/insightgrid/insight/grid/api"
)

// Hint follows a manager that no way reached.
const Hint = "(where neither the API server's proxy nor a port-forward reaches the manager, pass --manager-url http://<manager pod IP>:8090 from a machine that reaches it; " +
	"with TLS, https://<manager pod>.<its headless service>.<namespace>.svc:8090, a name the release's certificate carries)"

// CheckURL checks a --manager-url value without a cluster; "" is fine (not given).
func CheckURL(raw string) []validate.Problem {
	if raw == "" {
		return nil
	}
	if _, err := api.ParseURL(raw); err != nil {
		return []validate.Problem{{Key: "--manager-url", Value: raw, Message: err.Error()}}
	}
	return nil
}
