package processor

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// ErrBrokersUnreachable is Run's error when the brokers have answered
// nothing for Config.BrokerTimeout.
var ErrBrokersUnreachable = errors.New("processor: brokers unreachable")

// outage tracks whether the brokers answer. Every broker request of the
// processor reports its outcome: a failure starts an outage (if none is
// under way), a success ends it. While an outage lasts the processor is
// not ready; once it has lasted BrokerTimeout, watchHealth ends Run. It
// is safe for concurrent use.
type outage struct {
	// since is when the current outage started, Unix nanoseconds of the
	// processor's clock; 0 when the brokers answer.
	since atomic.Int64
	// logged is when a failure was last logged, to log an outage's
	// failures once per outageLogEvery rather than once per retry.
	logged atomic.Int64
	// cfg is the processor's: its clock, logger, metrics and timeout.
	cfg *Config
}

// outageLogEvery is how often the failures of an outage are logged.
const outageLogEvery = 10 * time.Second

// failed records a failed broker request of kind op ("read", "publish",
// "group", "admin").
func (o *outage) failed(op string, err error) {
	now := o.cfg.Now().UnixNano()
	o.cfg.Metrics.brokerError(op)
	o.cfg.Metrics.brokerReachable(false)
	first := o.since.CompareAndSwap(0, now)
	last := o.logged.Load()
	if first || now-last >= int64(outageLogEvery) {
		o.logged.Store(now)
		down := time.Duration(now - o.since.Load())
		o.cfg.Logger.Warn("brokers not answering; retrying with backoff", "op", op, "err", err,
			"down_for", down.Round(time.Millisecond), "broker_timeout", o.cfg.BrokerTimeout)
	}
}

// ok records a broker request that succeeded.
func (o *outage) ok() {
	since := o.since.Load()
	if since == 0 || !o.since.CompareAndSwap(since, 0) {
		return
	}
	o.cfg.Metrics.brokerReachable(true)
	o.cfg.Logger.Info("brokers answering again", "down_for", time.Duration(o.cfg.Now().UnixNano()-since).Round(time.Millisecond))
}

// reachable reports whether no outage is under way.
func (o *outage) reachable() bool { return o.since.Load() == 0 }

// downFor returns how long the current outage has lasted at now, 0 when
// none is under way.
func (o *outage) downFor(now time.Time) time.Duration {
	since := o.since.Load()
	if since == 0 {
		return 0
	}
	return max(time.Duration(now.UnixNano()-since), 0)
}

// watchHealth ends Run (through fail) when the store fails or an outage
// outlasts BrokerTimeout: both are faults a restart, not a retry, may
// mend, and an orchestrator restarts an instance that exits non-zero.
func (p *Processor) watchHealth(ctx context.Context, fail context.CancelCauseFunc) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.db.Failed():
			err := p.db.Err()
			p.cfg.Logger.Error("the store failed: consuming stops and the instance exits; restart it on a working disk, it resumes from the last batch committed", "err", err)
			fail(err)
			return
		case <-t.C:
			if d := p.brokers.downFor(p.cfg.Now()); d >= p.cfg.BrokerTimeout {
				err := fmt.Errorf("%w for %s (broker timeout %s)", ErrBrokersUnreachable, d.Round(time.Second), p.cfg.BrokerTimeout)
				p.cfg.Logger.Error("the brokers answered nothing for the broker timeout: the instance exits for a restart", "err", err)
				fail(err)
				return
			}
		}
	}
}

// retry calls f until it succeeds or ctx ends, waiting with backoff
// between failures, each reported to the outage as op. It returns nil or
// ctx's error.
func (o *outage) retry(ctx context.Context, op string, f func(context.Context) error) error {
	var b backoff
	for {
		err := f(ctx)
		if err == nil {
			o.ok()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		o.failed(op, err)
		if !b.wait(ctx) {
			return ctx.Err()
		}
	}
}

// backoff spaces the attempts of a retry loop: 100 ms, doubling up to 5
// s. The zero value is ready; reset starts again from 100 ms.
type backoff struct{ next time.Duration }

// wait sleeps the next backoff, and reports false if ctx ended first.
func (b *backoff) wait(ctx context.Context) bool {
	if b.next == 0 {
		b.next = 100 * time.Millisecond
	}
	t := time.NewTimer(b.next)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	}
	b.next = min(2*b.next, 5*time.Second)
	return true
}

func (b *backoff) reset() { b.next = 0 }
