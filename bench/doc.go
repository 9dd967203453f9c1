// Package bench measures kumo's cold start and warm invoke through the
// Lambda HTTP API beside two baselines measured in the same run: the same
// static bootstrap as a bare host process, and `runc run` of an equivalent
// OCI bundle. Both baselines talk to a minimal Runtime API served by the
// benchmark itself. It also measures the throughput of warm invocations
// with 1, 4 and 16 callers at once (against as many bare processes), and
// what invoking through an alias, plain or weighted, adds to invoking a
// version directly. Run it with `make bench` (root; the kumo binary is
// named by KUMO_TEST_BINARY).
package bench
