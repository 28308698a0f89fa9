package main

import (
	"context"
	"io"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// demoInstance is a demo run in-process for a test: its HTTP address, a
// user it names, and its output.
type demoInstance struct {
	base, user  string
	out, errOut *lockedBuffer
	stop        func()
	// wait returns the demo's error once it has stopped.
	wait func() error
}

// demoAddrLine is what the demo prints about its API.
var demoAddrLine = regexp.MustCompile(`query API on (http://[^,]+), e\.g\. curl '[^']*/v1/users/([^/]+)/recommendations`)

// startDemo runs `demo --http 127.0.0.1:0` with the extra args, waits for
// it to print its API address, and stops it when the test ends. The demo
// trains its model first, which under -race on a busy machine takes a
// while: it gets 50 seconds to come up.
func startDemo(t *testing.T, args ...string) *demoInstance {
	t.Helper()
	return startDemoWith(t, runDemo, args...)
}

// startDemoWith is startDemo with the function that runs the demo: runDemo,
// or demo with a callback.
func startDemoWith(t *testing.T, runner func(ctx context.Context, args []string, stdout, stderr io.Writer) error, args ...string) *demoInstance {
	t.Helper()
	d := &demoInstance{out: &lockedBuffer{}, errOut: &lockedBuffer{}}
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	d.stop, d.wait = stop, sync.OnceValue(func() error { return <-done })
	go func() {
		done <- runner(ctx, append([]string{"--http", "127.0.0.1:0"}, args...), d.out, d.errOut)
	}()
	t.Cleanup(func() {
		stop()
		_ = d.wait()
	})
	require.Eventually(t, func() bool {
		m := demoAddrLine.FindStringSubmatch(d.errOut.String())
		if m == nil {
			return false
		}
		d.base, d.user = m[1], m[2]
		return true
	}, 50*time.Second, 20*time.Millisecond, "the demo prints its API address")
	return d
}
