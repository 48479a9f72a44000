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

// fetchEach hands each message of cons to take, in order, asking for
// batches of at most batch messages, until ctx ends; when a fetch fails it
// logs why and asks again a second later.
func fetchEach(ctx context.Context, clock Clock, log *slog.Logger, what string, cons jetstream.Consumer, batch int, take func(jetstream.Msg)) {
	for ctx.Err() == nil {
		err := fetchUntil(ctx, cons, batch, func(msg jetstream.Msg) error { take(msg); return nil })
		if ctx.Err() != nil {
			return
		}
		log.Debug(what, "error", err)
		sleep(ctx, clock, time.Second) // NATS is away, or the consumer: ask again in a while
	}
}

// fetchUntil hands each message of cons to take, in order, asking for
// batches of at most batch messages, until ctx ends (nil), a fetch fails
// other than by waiting fetchWait for nothing, or take fails (that error).
// Each request is one Fetch, which ends with its batch or its wait: the
// iterators of nats.go v1.55.0 (Consume, Messages) can skip their next
// pull request when the last message they asked for is handled before the
// request that asked for it is done being sent, and then wait for their
// heartbeat to fail, 30 s, with nothing asked. Under load that happened
// every few thousand messages: queued checks and due watches stood still
// for 30 s each time (paybench --watches 100000; no test here reproduces
// the race).
func fetchUntil(ctx context.Context, cons jetstream.Consumer, batch int, take func(jetstream.Msg) error) error {
	for ctx.Err() == nil {
		if err := fetchOnce(ctx, cons, batch, take); err != nil {
			return err
		}
	}
	return nil
}

// fetchOnce is one pull request of fetchUntil: it hands each message of
// one batch to take, and returns nil when the batch ended by its size or
// its wait (fetchWait) or ctx.
func fetchOnce(ctx context.Context, cons jetstream.Consumer, batch int, take func(jetstream.Msg) error) error {
	fetchCtx, cancel := context.WithTimeout(ctx, fetchWait)
	defer cancel()
	msgs, err := cons.Fetch(batch, jetstream.FetchContext(fetchCtx))
	if err == nil {
		for msg := range msgs.Messages() {
			if err = take(msg); err != nil {
				break
			}
		}
		if err == nil {
			err = msgs.Error()
		}
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && !errors.Is(err, nats.ErrTimeout) {
		return err
	}
	return nil
}
