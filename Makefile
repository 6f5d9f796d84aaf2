# The project's vocabulary. Each target is one line; the work lives in ci/ and e2e/cluster/.
VERSION ?= 0.1.0
export VERSION

.PHONY: all build image image-spark tools lint unit e2e test bench cluster-up cluster-down demo clean

all: build

build:          ## bin/insight-grid and bin/insightctl (static, version injected)
	ci/build.sh

image:          ## the insight-grid OCI image, built without Docker, into bin/images/
	ci/image.sh

image-spark:    ## the insight-spark OCI image (JRE root, Spark, connector, examples), without Docker
	ci/spark-image.sh

tools:          ## Debian packages, golangci-lint and the local-cluster binaries (cached, pinned)
	ci/tools.sh

lint:           ## gofmt, go vet, golangci-lint, helm lint --strict of every chart and profile
	ci/lint.sh

unit:           ## unit and integration tests (no cluster) with -race
	ci/unit.sh

e2e:            ## end-to-end tests on the local cluster (starts it if needed)
	ci/e2e.sh

test:           ## everything CI runs: tools, lint, unit, e2e
	ci/test.sh

bench:          ## benchmarks with ratios against anchors measured in the same run
	ci/bench.sh

cluster-up:     ## start the local Kubernetes (control plane, kwok and node-agent nodes)
	ci/image.sh && e2e/cluster/up.sh

cluster-down:   ## stop everything cluster-up started, by PID
	e2e/cluster/down.sh

demo:           ## set up everything, start the local cluster and install the suite on it
	ci/demo.sh

clean:
	rm -rf bin
