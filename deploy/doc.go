// Package deploy holds what runs sessionrec rather than what sessionrec is:
// the container image (Dockerfile), the configuration of the compose stack
// that the repository's docker-compose.yml starts (Prometheus in
// prometheus/, Grafana's datasource and dashboard in grafana/), and the
// single-node Kafka broker that `make test` runs the integration tests
// against (kafka/). README.md describes each.
//
// The package has no Go code of its own, only tests. No Docker engine runs
// where the tests run, so nothing here is ever started by them; instead
// they keep these files true to the code they describe, failing when the
// two drift apart:
//
//   - docker-compose.yml parses, uses only Compose keys, pinned images,
//     declared volumes and existing files, and waits for what it needs;
//   - every sessionrec command in it names a subcommand and flags that the
//     binary built from ./cmd/sessionrec accepts (read from each
//     subcommand's -h output), with values of the flags' types, paths on
//     mounted volumes and brokers that Kafka advertises;
//   - the Dockerfile builds ./cmd/sessionrec into a non-root image whose
//     entry point is that binary, and its ignore file keeps every source
//     file of the binary in the build context;
//   - Prometheus scrapes the sessionrec service on the port of its --http
//     address, and Grafana's datasource points at Prometheus;
//   - the Grafana dashboards are valid, and every sessionrec_* metric their
//     queries name is one that processor.NewMetrics registers, with the
//     labels and the metric type (counter, gauge, histogram) the query
//     assumes; every metric NewMetrics registers is on a dashboard.
package deploy
