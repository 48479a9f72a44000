// Package client is how a Go service uses paybridge: check a payment, read
// its stored status, queue checks that must not be lost, and consume status
// events, over the *nats.Conn the service already has. The contract it
// speaks is docs/contract.md.
//
//	c, err := client.New(nc)
//	ctx, cancel := context.WithTimeout(ctx, client.CheckTimeout)
//	defer cancel()
//	rep, err := c.Check(ctx, "coinbar", "order-1", client.Watch())
//
// # Checks and lookups
//
// Check asks the bridge to ask the provider now; Status reads the stored
// status without calling the provider. Both return a paybridge.Reply, whose
// amounts are decimal strings exactly as the provider wrote them: never
// turn them into a float64. The context is the request's deadline and the
// client adds none: give a check at least CheckTimeout (35 s), since one
// provider call may take 30 s after up to 2 s of waiting for call budget.
//
// # Queued checks
//
// Enqueue publishes a check to the bridge's durable intake, the JetStream
// stream PAYMENT_CHECKS, and returns once the stream has stored it
// (Enqueued: the stream and the sequence). Nothing replies: the check's
// effects (the stored status, the event, the watch) are what the caller
// sees, as with a fire-and-forget check. Unlike one, it is not dropped
// when the bridge is busy or down: it waits in the stream, and every
// bridge takes queued checks as its slots free up. It is for a batch job
// checking many payments (every open one, each night), which wants each
// checked and no reply:
//
//	stored, err := c.Enqueue(ctx, "coinbar", "order-1", client.Watch())
//
// The options are those of the check request (Watch, MaxAge, RequestID,
// Account), and DedupeID; ReplyJSON has no reply to hold, and is not one.
// Every argument is checked as the bridge checks a request, since the
// bridge would end an invalid queued check unheard of. A full stream is
// refused at once, as an error matching ErrOverloaded; no stream on the
// subject (no bridge has ever started on this NATS) is ErrNoCheckStream.
// Without DedupeID every Enqueue is stored, so that a payment queued twice
// is checked twice; with it, the stream keeps one of the checks published
// with the same id within two minutes (to publish again a check whose
// PubAck did not come).
//
// Use Check when the caller wants the answer now; Enqueue when it wants
// each check done, whenever; a fire-and-forget check (a core publish on
// payments.check without a reply subject, outside this package) only where
// losing one is fine.
//
// # Errors
//
// Errors are values. An error reply of the bridge is a *ReplyError; it
// unwraps to a *paybridge.Error with the code and message, so both of these
// work for every code of the contract:
//
//	errors.Is(err, client.ErrPaymentNotFound)
//	var pe *paybridge.Error
//	if errors.As(err, &pe) && pe.Code.Retryable() { /* try again later */ }
//
// The retryable codes are provider_rate_limited, provider_unavailable,
// provider_timeout and overloaded. Arguments the bridge would refuse at
// sight (an empty provider or payment id) are refused before sending, as
// ErrInvalidRequest. ErrNoBridge means nothing answers on the subject; a
// deadline that passes gives the context's error (errors.Is(err,
// context.DeadlineExceeded)); an answer that is not a reply of the contract
// is ErrMalformedReply, naming the problem.
//
// # Events
//
// Each status change is one event (events.Event) in the JetStream stream
// PAYMENT_EVENTS. Subscribe consumes it through a durable consumer with
// explicit acks, so nothing is missed while the service is down:
//
//   - the handler returns nil: the event is acknowledged, and the ack is
//     recorded by the server before the next event is handled;
//   - it returns an error: the event is delivered again after a delay that
//     grows with each delivery (RetryBackoff);
//   - it returns Permanent(err): the event is terminated and never comes
//     back;
//   - a message that is not a paybridge event is terminated and reported to
//     OnError.
//
// Delivery is at least once. JetStream delivers an event again when the
// handler failed, when its ack wait passed, and when the service stopped
// between applying an event and its ack being recorded; the bridge, for its
// part, may publish a change again after a failure (docs/contract.md,
// "Guarantees"). The same change always has the same event id: make the
// handler idempotent on ev.ID (record the ids applied, in the same
// transaction as the change) and the effect is exactly once.
//
// Subscribers with the same durable name share one consumer and split the
// events between them: run one name per service, not per replica. Follow
// reads the stream without a durable consumer, from now or from the first
// stored event, for a display or a tool.
//
// # Tracing
//
// The client carries W3C trace context both ways with OpenTelemetry's
// propagator, and needs no OpenTelemetry setup to do so. Check and Status
// send the trace context of the span in their context as the request's
// traceparent and tracestate headers (none when the context has no span),
// so the bridge's work joins the caller's trace. An event carries the
// trace context of the check that caused it, when that check had one (the
// CloudEvents distributed-tracing extension, events.Event.TraceParent); the
// context of a Subscribe or Follow handler holds it as the remote parent, so
// a span the handler starts continues that trace.
//
// # Assets
//
// The subjects and the streams are those of docs/contract.md, "NATS
// assets"; WithCheckSubject, WithQueuedCheckSubject, WithStatusSubject,
// WithEventStream and WithEventSubjects follow a bridge whose bridge.Config
// names them otherwise.
package client
