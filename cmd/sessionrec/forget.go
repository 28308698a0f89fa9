package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sessionrec/sessionrec/topics"
)

// runForget writes erasure requests to the erasures topic:
//
//	sessionrec forget [flags] USER...
//	sessionrec forget [flags] -       (user ids from stdin, one a line)
//
// The processor that owns each user deletes its state, writes tombstones
// for it to its changelog and to the recommendations topic, and answers
// 404 for it from then on. Every id is validated before anything is sent.
func runForget(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("forget", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		brokers = fs.String("brokers", "localhost:9092", "Kafka bootstrap brokers, comma-separated")
		tf      topicFlags
		sec     securityFlags
	)
	tf.registerErasures(fs)
	sec.register(fs)
	if err := parseWithEnv(fs, args); err != nil {
		return err
	}
	users := fs.Args()
	if len(users) == 1 && users[0] == "-" {
		users = nil
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if u := strings.TrimSpace(sc.Text()); u != "" {
				users = append(users, u)
			}
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("forget: read user ids: %w", err)
		}
	}
	if len(users) == 0 {
		return errors.New("forget: give the user ids to forget: sessionrec forget [flags] USER... (or - to read them from stdin, one a line)")
	}
	now := time.Now()
	for _, u := range users {
		if _, err := topics.DecodeErasure([]byte(u), nil, topics.Limits{}); err != nil {
			return fmt.Errorf("forget: %w", err)
		}
	}
	security, err := sec.reach(ctx, brokerList(*brokers))
	if err != nil {
		return err
	}
	prod := topics.NewProducer(brokerList(*brokers), tf.names(), topics.WithSecurity(security))
	defer func() { err = errors.Join(err, prod.Close()) }()
	for chunk := range slices.Chunk(users, 1000) {
		if err := prod.Forget(ctx, now, chunk...); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "sent %d erasure requests to %s\n", len(users), tf.names().Erasures)
	return nil
}
