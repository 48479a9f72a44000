package bridge

import (
	"context"
	"errors"
	"fmt"
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

// ensureStatusBucket creates the status bucket, or opens it when it exists.
func ensureStatusBucket(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.KeyValue, error) {
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "paybridge: last known status per payment",
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.KeyValue(ctx, cfg.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("opening bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}
