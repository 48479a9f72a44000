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

// ensureEventStream creates the event stream, or checks that an existing
// one captures the event subjects. An existing stream is not rewritten: an
// operator may have tuned its limits.
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
	_, err := js.CreateStream(ctx, want)
	if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		if err != nil {
			return fmt.Errorf("creating stream %s: %w", cfg.EventStream, err)
		}
		return nil
	}
	s, err := js.Stream(ctx, cfg.EventStream)
	if err != nil {
		return fmt.Errorf("reading stream %s: %w", cfg.EventStream, err)
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

// ensureStatusBucket creates the status bucket with per-message TTL, or
// opens it when it exists. It reports whether the bucket takes TTLs: one
// created by a version before retention does not, and is never rewritten
// here (an operator migrates it; docs/contract.md, "Retention").
func ensureStatusBucket(ctx context.Context, js jetstream.JetStream, cfg Config, log *slog.Logger) (jetstream.KeyValue, bool, error) {
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:         cfg.Bucket,
		Description:    "paybridge: last known status per payment",
		Storage:        jetstream.FileStorage,
		Replicas:       cfg.Replicas,
		LimitMarkerTTL: markerTTL,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.KeyValue(ctx, cfg.Bucket)
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

// ensureOutbox creates the outbox stream when missing: one note per
// claim not yet announced. Notes are crossed off within
// moments; the age limit only bounds what a long outage could leave.
func ensureOutbox(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.Stream, error) {
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:              cfg.OutboxStream,
		Description:       "paybridge: claims not yet announced, for the reconciler",
		Subjects:          []string{cfg.OutboxSubject + ".>"},
		Storage:           jetstream.FileStorage,
		Replicas:          cfg.Replicas,
		MaxMsgsPerSubject: 1,
		MaxAge:            7 * 24 * time.Hour,
	})
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		s, err = js.Stream(ctx, cfg.OutboxStream)
	}
	if err != nil {
		return nil, fmt.Errorf("opening stream %s: %w", cfg.OutboxStream, err)
	}
	return s, nil
}
