package bridge

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// fetchWait is how long one pull request stays open at the server when
// the consumer has nothing to deliver.
const fetchWait = 5 * time.Second

// fetchEach hands each message of cons to take, in order, with the time
// the pull that brought it was asked for, asking for batches of at most
// batch messages, until ctx ends; when a fetch fails it logs why and asks
// again a second later.
func fetchEach(ctx context.Context, clock Clock, log *slog.Logger, what string, cons jetstream.Consumer, batch int, take func(msg jetstream.Msg, fetched time.Time)) {
	for ctx.Err() == nil {
		err := fetchUntil(ctx, cons, batch, func(msg jetstream.Msg, fetched time.Time) error { take(msg, fetched); return nil })
		if ctx.Err() != nil {
			return
		}
		log.Debug(what, "error", err)
		sleep(ctx, clock, time.Second) // NATS is away, or the consumer: ask again in a while
	}
}

// fetchUntil hands each message of cons to take, in order, with the time
// its pull was asked for, asking for batches of at most batch messages,
// until ctx ends (nil), a fetch fails other than by waiting fetchWait for
// nothing, or take fails (that error).
// Each request is one Fetch, which ends with its batch or its wait: the
// iterators of nats.go v1.55.0 (Consume, Messages) can skip their next
// pull request when the last message they asked for is handled before the
// request that asked for it is done being sent, and then wait for their
// heartbeat to fail, 30 s, with nothing asked. Under load that happened
// every few thousand messages: queued checks and due watches stood still
// for 30 s each time (paybench --watches 100000; no test here reproduces
// the race).
func fetchUntil(ctx context.Context, cons jetstream.Consumer, batch int, take func(msg jetstream.Msg, fetched time.Time) error) error {
	for ctx.Err() == nil {
		fetched := time.Now()
		fetchCtx, cancel := context.WithTimeout(ctx, fetchWait)
		msgs, err := cons.Fetch(batch, jetstream.FetchContext(fetchCtx))
		if err == nil {
			for msg := range msgs.Messages() {
				if err = take(msg, fetched); err != nil {
					break
				}
			}
			if err == nil {
				err = msgs.Error()
			}
		}
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && !errors.Is(err, nats.ErrTimeout) {
			return err
		}
	}
	return nil
}
