package preflight

import (
	"fmt"
	"io"
)

// Write prints every check of res, with the fix of each that failed.
func Write(w io.Writer, res *Result) {
	fmt.Fprintln(w, "Preflight:")
	for _, c := range res.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  %s %-18s %s\n", mark, c.Name, c.Message)
		if c.Fix != "" {
			fmt.Fprintf(w, "       %-18s fix: %s\n", "", c.Fix)
		}
	}
}
