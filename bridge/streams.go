package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ensureEventStream opens the event stream, or creates it when missing,
// and checks that it captures the event subjects. An existing stream is
// not rewritten: an operator may have tuned its limits.
func ensureEventStream(ctx context.Context, js jetstream.JetStream, cfg Config) error {
	want := jetstream.StreamConfig{
		Name: cfg.EventStream,
		// Only the two event subjects: a wider filter would capture
		// status lookups and answer them with PubAcks.
		Subjects:   []string{cfg.EventSubject, cfg.WatchExpiredSubject},
		Storage:    jetstream.FileStorage,
		Replicas:   cfg.Replicas,
		Duplicates: 2 * time.Minute,
		MaxAge:     7 * 24 * time.Hour,
	}
	s, err := ensureStream(ctx, js, want)
	if err != nil {
		return fmt.Errorf("opening stream %s: %w", cfg.EventStream, err)
	}
	have := s.CachedInfo().Config
	for _, subj := range want.Subjects {
		if !slices.Contains(have.Subjects, subj) {
			return fmt.Errorf("stream %s exists but does not capture %s (it has %v)", cfg.EventStream, subj, have.Subjects)
		}
	}
	if have.Duplicates <= 0 {
		return fmt.Errorf("stream %s exists without a duplicate window; events could be stored twice", cfg.EventStream)
	}
	return nil
}

// markerTTL is how long the bucket keeps the marker of a record that
// expired: long enough for every instance's watch to see it and forget the
// payment.
const markerTTL = 15 * time.Minute

// ensureStatusBucket opens the status bucket, or creates it with
// per-message TTL when missing. It reports whether the bucket takes TTLs:
// one created by a version before retention does not, and is never
// rewritten here (an operator migrates it; docs/contract.md, "Retention").
func ensureStatusBucket(ctx context.Context, js jetstream.JetStream, cfg Config, log *slog.Logger) (jetstream.KeyValue, bool, error) {
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		var maxBytes int64
		if maxBytes, err = requiredBytes(ctx, js, cfg.Replicas); err == nil {
			kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
				Bucket:         cfg.Bucket,
				Description:    "paybridge: last known status per payment",
				Storage:        jetstream.FileStorage,
				Replicas:       cfg.Replicas,
				LimitMarkerTTL: markerTTL,
				MaxBytes:       maxBytes,
			})
		}
		if errors.Is(err, jetstream.ErrBucketExists) || noRoom(err) {
			kv, err = reopened(err, func() (jetstream.KeyValue, error) { return js.KeyValue(ctx, cfg.Bucket) })
		}
	}
	if err != nil {
		return nil, false, fmt.Errorf("opening bucket %s: %w", cfg.Bucket, err)
	}
	status, err := kv.Status(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("reading bucket %s: %w", cfg.Bucket, err)
	}
	info := status.(*jetstream.KeyValueBucketStatus).StreamInfo()
	if !info.Config.AllowMsgTTL {
		log.Warn("the status bucket was made without per-message TTL, so records never expire; to let them, "+
			"set allow_msg_ttl and a subject_delete_marker_ttl of 15m on its stream "+info.Config.Name+
			" (nats stream edit "+info.Config.Name+" --allow-msg-ttl --subject-del-markers-ttl 15m, or --config "+
			"with those two fields), then restart paybridge (docs/contract.md, Retention)", "bucket", cfg.Bucket)
		return kv, false, nil
	}
	return kv, true, nil
}

// ensureOutbox opens the outbox stream, or creates it when missing: one
// note per claim not yet announced. Notes are crossed off within
// moments; the age limit only bounds what a long outage could leave.
func ensureOutbox(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.Stream, error) {
	s, err := ensureStream(ctx, js, jetstream.StreamConfig{
		Name:              cfg.OutboxStream,
		Description:       "paybridge: claims not yet announced, for the reconciler",
		Subjects:          []string{cfg.OutboxSubject + ".>"},
		Storage:           jetstream.FileStorage,
		Replicas:          cfg.Replicas,
		MaxMsgsPerSubject: 1,
		MaxAge:            7 * 24 * time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("opening stream %s: %w", cfg.OutboxStream, err)
	}
	return s, nil
}

// JetStream reserves a stream's byte limit (MaxBytes) from its storage
// when it creates the stream, and refuses a stream whose limit does not
// fit in what the account and the server have left, before it checks
// whether the stream exists. So every asset is looked up first and opened
// as it is, whatever it reserves; only a missing one is created, and with
// no byte limit, so that it reserves nothing, unless the account requires
// one or the operator set one (docs/contract.md, "Creating the assets").
// What bounds the streams instead: message counts and ages.
const (
	// minStreamBytes is the least byte limit the bridge sets: a watch
	// stream of 1 MiB holds a few thousand watches.
	minStreamBytes = 1 << 20
	// errNoStorage and errNoResources are JetStream's codes for a stream
	// it has no room for: the storage limit of the account or the
	// server, or (clustered) no server with room.
	errNoStorage   jetstream.ErrorCode = 10047
	errNoResources jetstream.ErrorCode = 10023
)

// ensureStream opens the stream want names as it is, or creates it from
// want when missing; a byte limit want does not set is the one the
// account requires, if any (requiredBytes).
func ensureStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, want.Name)
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return s, err
	}
	if want.MaxBytes == 0 {
		if want.MaxBytes, err = requiredBytes(ctx, js, want.Replicas); err != nil {
			return nil, err
		}
	}
	s, err = js.CreateStream(ctx, want)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) || noRoom(err) {
		s, err = reopened(err, func() (jetstream.Stream, error) { return js.Stream(ctx, want.Name) })
	}
	if noRoom(err) && want.MaxBytes > 0 {
		return nil, fmt.Errorf("JetStream has no room for its byte limit of %d: %w", want.MaxBytes, err)
	}
	return s, err
}

// reopened opens an asset whose creation failed with err, as it does when
// another instance made it meanwhile (JetStream checks the room before the
// name); when there is still none, err stands.
func reopened[T any](err error, open func() (T, error)) (T, error) {
	v, openErr := open()
	if openErr == nil {
		return v, nil
	}
	return v, err
}

// requiredBytes is the byte limit of an asset the bridge creates in an
// account that requires one (max_bytes_required): a quarter of what the
// account has neither reserved nor used (its share per replica), within
// its limit for one stream, and at least 1 MiB. Elsewhere it is 0: none.
func requiredBytes(ctx context.Context, js jetstream.JetStream, replicas int) (int64, error) {
	info, err := js.AccountInfo(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the account's JetStream limits: %w", err)
	}
	// Limits per replica count (tiers) count the replicas in; an
	// account's single limit takes each replica's bytes from it.
	tier, copies := info.Tier, int64(max(replicas, 1))
	if len(info.Tiers) > 0 {
		tier, copies = info.Tiers[fmt.Sprintf("R%d", max(replicas, 1))], 1
	}
	if !tier.Limits.MaxBytesRequired {
		return 0, nil
	}
	room := int64(1) << 40
	if tier.Limits.MaxStore >= 0 {
		room = max(tier.Limits.MaxStore-int64(max(tier.ReservedStore, tier.Store)), 0) / copies
	}
	n := room / 4
	if limit := tier.Limits.StoreMaxStreamBytes; limit > 0 {
		n = min(n, limit)
	}
	return max(n, minStreamBytes), nil
}

// noRoom tells JetStream's refusal of a stream it has no room for.
func noRoom(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == errNoStorage || apiErr.ErrorCode == errNoResources)
}
