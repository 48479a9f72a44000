package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
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
	s, err := streamAsset(ctx, js, want, cfg.Logger).ensure(ctx, js)
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
	kv, err := asset[jetstream.KeyValue]{
		stream:   "KV_" + cfg.Bucket,
		replicas: cfg.Replicas,
		log:      log,
		create: func(maxBytes int64, metadata map[string]string) (jetstream.KeyValue, error) {
			return js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
				Bucket:         cfg.Bucket,
				Description:    "paybridge: last known status per payment",
				Storage:        jetstream.FileStorage,
				Replicas:       cfg.Replicas,
				LimitMarkerTTL: markerTTL,
				MaxBytes:       maxBytes,
				Metadata:       metadata,
			})
		},
		open: func() (jetstream.KeyValue, error) { return js.KeyValue(ctx, cfg.Bucket) },
	}.ensure(ctx, js)
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
	s, err := streamAsset(ctx, js, jetstream.StreamConfig{
		Name:              cfg.OutboxStream,
		Description:       "paybridge: claims not yet announced, for the reconciler",
		Subjects:          []string{cfg.OutboxSubject + ".>"},
		Storage:           jetstream.FileStorage,
		Replicas:          cfg.Replicas,
		MaxMsgsPerSubject: 1,
		MaxAge:            7 * 24 * time.Hour,
	}, cfg.Logger).ensure(ctx, js)
	if err != nil {
		return nil, fmt.Errorf("opening stream %s: %w", cfg.OutboxStream, err)
	}
	return s, nil
}

// JetStream reserves a stream's byte limit (MaxBytes) from its storage
// when it creates the stream, and refuses a stream whose limit does not
// fit in what the account and the server have left; it checks that before
// it checks whether the stream exists. So every asset is looked up first
// and opened as it is, whatever it reserves, and only a missing one is
// created: without a byte limit unless it needs one (the watch stream
// always, the others when the account requires one), and then with one
// that leaves room (docs/contract.md, "Creating the assets").
const (
	// maxStreamBytes is the most a stream the bridge sizes reserves.
	maxStreamBytes = 1 << 30
	// minStreamBytes is the least: a watch stream of 1 MiB holds a few
	// thousand watches.
	minStreamBytes = 1 << 20
	// sizingMark is the metadata of a stream that has four times the
	// byte limit it is to have: JetStream took that much, and the bridge
	// lowers it to a quarter (lowerProbed).
	sizingMark = "paybridge.sizing"
	// errNoStorage and errNoResources are JetStream's codes for a stream
	// it has no room for: the storage limit of the account or the
	// server, or (clustered) no server with room.
	errNoStorage   jetstream.ErrorCode = 10047
	errNoResources jetstream.ErrorCode = 10023
)

// asset is a stream, or the bucket on a stream, the bridge needs.
type asset[T any] struct {
	stream   string // its stream's name
	replicas int
	// sized: it gets a byte limit even when the account does not
	// require one; set is an operator's byte limit, used as it is.
	sized bool
	set   int64
	// create makes it with a byte limit (0: none) and metadata; open
	// opens it.
	create func(maxBytes int64, metadata map[string]string) (T, error)
	open   func() (T, error)
	log    *slog.Logger
}

// streamAsset is the asset of the stream want describes.
func streamAsset(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig, log *slog.Logger) asset[jetstream.Stream] {
	return asset[jetstream.Stream]{
		stream:   want.Name,
		replicas: want.Replicas,
		log:      log,
		create: func(maxBytes int64, metadata map[string]string) (jetstream.Stream, error) {
			want.MaxBytes, want.Metadata = maxBytes, metadata
			return js.CreateStream(ctx, want)
		},
		open: func() (jetstream.Stream, error) { return js.Stream(ctx, want.Name) },
	}
}

// ensure opens the asset as it is, or creates it when missing. A byte
// limit the bridge chooses is a quarter of the room JetStream shows it
// has: the stream is created with the size askBytes gives, or the first
// of its halves JetStream accepts, marked, and then lowered to a quarter.
// A client cannot read a server's own limit (max_file_store); a stream
// JetStream accepts shows there was room for it.
func (a asset[T]) ensure(ctx context.Context, js jetstream.JetStream) (T, error) {
	v, err := a.reopen(ctx, js)
	if !notFound(err) {
		return v, err
	}
	ask := a.set
	if ask == 0 {
		if ask, err = askBytes(ctx, js, a.replicas, a.sized); err != nil {
			return v, err
		}
	}
	if a.set > 0 || ask == 0 {
		v, err = a.create(ask, nil)
	} else {
		err = findRoom(ask, func(size int64) (err error) {
			v, err = a.create(size, withSizingMark(nil))
			return err
		})
	}
	if noRoom(err) {
		// JetStream checks the room before the name: another instance
		// may have made the asset meanwhile.
		if v, err := a.reopen(ctx, js); !notFound(err) {
			return v, err
		}
		if a.set > 0 {
			return v, fmt.Errorf("JetStream has no room for its byte limit of %d: %w", a.set, err)
		}
		return v, fmt.Errorf("JetStream has no room for it: %w", err)
	}
	if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return v, err
	}
	return a.reopen(ctx, js)
}

// errNoRoomLeft is the account having less room than a sized stream
// takes.
var errNoRoomLeft = errors.New("the account has less than 4 MiB left to reserve")

// findRoom calls try with the byte limit ask and then, for as long as
// JetStream has no room for it, with its halves down to 4 MiB (a quarter
// of which is the least a sized stream gets), and returns try's last
// error.
func findRoom(ask int64, try func(size int64) error) error {
	err := errNoRoomLeft
	for size := ask; size >= 4*minStreamBytes; size /= 2 {
		if err = try(size); !noRoom(err) {
			return err
		}
	}
	return err
}

// withSizingMark is metadata with sizingMark added.
func withSizingMark(metadata map[string]string) map[string]string {
	m := maps.Clone(metadata)
	if m == nil {
		m = map[string]string{}
	}
	m[sizingMark] = "lowering to a quarter"
	return m
}

// reopen opens the asset, lowering it first when it still has the byte
// limit it was created with to find room (lowerProbed).
func (a asset[T]) reopen(ctx context.Context, js jetstream.JetStream) (T, error) {
	v, err := a.open()
	if err != nil {
		return v, err
	}
	s, ok := any(v).(jetstream.Stream)
	if !ok {
		if s, err = js.Stream(ctx, a.stream); err != nil {
			return v, err
		}
	}
	if lowered, err := lowerProbed(ctx, js, s.CachedInfo().Config, a.log); err != nil || !lowered {
		return v, err
	}
	return a.open()
}

// lowerProbed lowers a stream that has four times the byte limit it is to
// have (it carries sizingMark) to a quarter, and removes the mark. That
// is done just after it was made, and again when its maker stopped first.
func lowerProbed(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig, log *slog.Logger) (bool, error) {
	if _, ok := cfg.Metadata[sizingMark]; !ok {
		return false, nil
	}
	cfg.Metadata = maps.Clone(cfg.Metadata)
	delete(cfg.Metadata, sizingMark)
	probed := cfg.MaxBytes
	cfg.MaxBytes = max(probed/4, minStreamBytes)
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		return false, fmt.Errorf("lowering its byte limit to %d: %w", cfg.MaxBytes, err)
	}
	log.Info("gave a stream a quarter of the room JetStream had", "stream", cfg.Name, "max_bytes", cfg.MaxBytes, "room", probed)
	return true, nil
}

// askBytes is the byte limit to look for room for, a quarter of which a
// new stream gets: none (0) when it needs none; otherwise the least of
// 4 GiB, what the account has neither reserved nor used (its part of it,
// for its replicas) and the account's limit for one stream.
func askBytes(ctx context.Context, js jetstream.JetStream, replicas int, sized bool) (int64, error) {
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
	if !sized && !tier.Limits.MaxBytesRequired {
		return 0, nil
	}
	n := int64(4 * maxStreamBytes)
	if tier.Limits.MaxStore >= 0 {
		taken := int64(max(tier.ReservedStore, tier.Store))
		n = min(n, max(tier.Limits.MaxStore-taken, 0)/copies)
	}
	if tier.Limits.StoreMaxStreamBytes > 0 {
		n = min(n, tier.Limits.StoreMaxStreamBytes)
	}
	return n, nil
}

// notFound tells a missing stream or bucket.
func notFound(err error) bool {
	return errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrBucketNotFound)
}

// noRoom tells JetStream's refusal of a stream it has no room for, or
// errNoRoomLeft.
func noRoom(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, errNoRoomLeft) ||
		errors.As(err, &apiErr) && (apiErr.ErrorCode == errNoStorage || apiErr.ErrorCode == errNoResources)
}
