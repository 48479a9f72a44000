package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// errConflict means the record changed between our read and our write.
var errConflict = errors.New("status record changed concurrently")

// statusStore keeps the last status of each payment in a JetStream KV bucket.
// Every write is a compare-and-set against the revision read, so the bucket
// decides which of several racing instances claims a change.
type statusStore struct {
	kv jetstream.KeyValue
}

// Get returns the record under key and its revision; found is false when
// there is none. A record not yet published carries its own revision.
func (s *statusStore) Get(ctx context.Context, key string) (rec Record, rev uint64, found bool, err error) {
	entry, err := s.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return Record{}, 0, false, nil
	case err != nil:
		return Record{}, 0, false, fmt.Errorf("reading status %s: %w", key, err)
	}
	rec, err = decodeEntry(entry)
	return rec, entry.Revision(), err == nil, err
}

// decodeEntry reads a KV entry into a Record.
func decodeEntry(entry jetstream.KeyValueEntry) (Record, error) {
	var rec Record
	if err := json.Unmarshal(entry.Value(), &rec); err != nil {
		return Record{}, fmt.Errorf("decoding status %s: %w", entry.Key(), err)
	}
	if rec.Revision == 0 {
		rec.Revision = entry.Revision()
	}
	return rec, nil
}

// Put writes rec under key if the stored revision is still rev (0: the key
// must not exist) and returns the new revision. A lost race is errConflict.
func (s *statusStore) Put(ctx context.Context, key string, rec Record, rev uint64) (uint64, error) {
	value, err := json.Marshal(rec)
	if err != nil {
		return 0, fmt.Errorf("encoding status %s: %w", key, err)
	}
	var newRev uint64
	if rev == 0 {
		newRev, err = s.kv.Create(ctx, key, value)
	} else {
		newRev, err = s.kv.Update(ctx, key, value, rev)
	}
	if isConflict(err) {
		return 0, errConflict
	}
	if err != nil {
		return 0, fmt.Errorf("writing status %s: %w", key, err)
	}
	return newRev, nil
}

// isConflict recognises every way JetStream reports a lost compare-and-set:
// the KV sentinels, and the raw API codes 10071 and 10164 (the latter from
// replicated buckets).
func isConflict(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
