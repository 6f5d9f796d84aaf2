package progress

import (
	"context"
	"fmt"
	"io"
	"time"
)

// explainTimeout bounds Explain, which often runs after the caller's deadline passed.
const explainTimeout = 20 * time.Second

// Explain diagnoses why the pods of src are not ready and writes it to w; it has its own
// deadline, since the caller's may be what ran out.
func Explain(ctx context.Context, src Source, w io.Writer) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), explainTimeout)
	defer cancel()
	findings, err := Diagnose(dctx, src)
	if err != nil {
		fmt.Fprintf(w, "cannot diagnose: %v\n", err)
		return
	}
	WriteDiagnosis(w, findings)
}
