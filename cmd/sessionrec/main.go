// Command sessionrec is the sessionrec binary: a session-aware recommender
// and the tools around it. Run "sessionrec help" for its subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand.
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"demo", "run the whole pipeline on an in-process broker and a synthetic shop, printing recommendations", runDemo},
		{"run", "run the stream processor on Kafka", runRun},
		{"produce", "replay a dataset or a JSON-lines file of events into the topics (also the load generator)", runProduce},
		{"topics", "create or check the topics (topics create|check)", runTopics},
		{"forget", "ask the processors to forget users: their state, changelog entry and recommendations", runForget},
		{"bench", "measure throughput and event-to-publish latency on a synthetic shop", runBench},
		{"train", "train item embeddings on a dataset and write the model artefact", runTrain},
		{"eval", "evaluate the model and baselines on a dataset (HR@20, MRR@20)", runEval},
		{"keygen", "write an Ed25519 key pair that signs (train --sign-key) and verifies (run --model-verify-key) models", runKeygen},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "sessionrec:", err)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: sessionrec <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun \"sessionrec <command> -h\" for a command's flags.")
}
