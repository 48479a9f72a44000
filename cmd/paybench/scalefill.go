package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/providers"
)

// scaleBytesPerRecord is about what one stored record takes in the file
// store: the JSON value, its subject and the store's framing.
const scaleBytesPerRecord = 600

// scaleHeadroom is free space asked for beyond the records: the priming
// writes, the event stream and the store's own files.
const scaleHeadroom = 512 << 20

// checkFreeSpace refuses a fill that the temporary directory cannot hold,
// before anything is started: a full disk half way through would take the
// NATS server down with it.
func checkFreeSpace(dir string, records int) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return fmt.Errorf("free space in %s: %w", dir, err)
	}
	free := st.Bavail * uint64(st.Bsize)
	need := uint64(records)*scaleBytesPerRecord*5/4 + scaleHeadroom
	if free < need {
		return fmt.Errorf("--scale %d needs about %.1f GiB free in %s (%d bytes a record, and headroom), but %.1f GiB are: free some space or set TMPDIR to a larger disk",
			records, gib(need), dir, scaleBytesPerRecord, gib(free))
	}
	return nil
}

func gib(b uint64) float64 { return float64(b) / (1 << 30) }

// scaleSet is the settled payments a --scale fill stores. Payment i (from 1)
// is of the providers in turn, scale-<provider>-0000001 and on; each was
// seen paid at first sight and its event published, one millisecond after
// payment i-1, the last one just before the fill.
type scaleSet struct {
	providers []providers.Descriptor
	n         int
	digits    int
	last      time.Time
	// base is the bucket's last revision before the fill: payment i is
	// stored at revision base+i.
	base uint64
}

func newScaleSet(list []providers.Descriptor, n int, last time.Time, base uint64) scaleSet {
	return scaleSet{providers: list, n: n, digits: max(7, len(strconv.Itoa(n))), last: last.UTC().Truncate(time.Millisecond), base: base}
}

// payment names payment i and its provider.
func (s scaleSet) payment(i int) (providers.Descriptor, string) {
	d := s.providers[(i-1)%len(s.providers)]
	return d, fmt.Sprintf("scale-%s-%0*d", d.Name, s.digits, i)
}

// record is payment i's key and stored record, in the format the bridge
// writes once a change is announced: its revision is the one it is stored
// at, as if the claim were that write. Its fields are those of its
// provider's paid step and scripted payment.
func (s scaleSet) record(i int) (string, bridge.Record) {
	d, id := s.payment(i)
	provider, paid, fixed := d.Name, d.Sim.Paid, d.Sim.Payment
	observed := s.last.Add(-time.Duration(s.n-i) * time.Millisecond)
	updated := observed.Add(-2 * time.Second)
	data := events.StatusChanged{
		Provider:          provider,
		PaymentID:         id,
		Status:            paybridge.StatusPaid,
		Terminal:          true,
		ProviderUpdatedAt: &updated,
		ObservedAt:        observed,
		Revision:          s.base + uint64(i),
	}
	data.ProviderStatus, data.ProviderStatusDetail, data.AmountPaid = paid.Status, paid.Detail, paid.AmountPaid
	data.Amount, data.Currency = fixed.Amount, fixed.Currency
	data.CryptoAmount, data.CryptoCurrency = fixed.CryptoAmount, fixed.CryptoCoin
	return bridge.Key(provider, id), bridge.Record{
		StatusChanged: data,
		EventID:       bridge.EventID(provider, id, 0, paybridge.StatusPaid),
		Published:     true,
	}
}

// fillResult is how the bucket was filled.
type fillResult struct {
	Records   int     `json:"records"` // published and acknowledged
	Seconds   float64 `json:"seconds"` // first publish to last acknowledgement
	PerSecond float64 `json:"records_per_second"`
	// What the bucket holds afterwards, as its stream counts it.
	StoredValues   uint64  `json:"stored_values"`
	StoreBytes     uint64  `json:"store_bytes"`
	BytesPerRecord float64 `json:"store_bytes_per_record"`
}

// Bounds of the fill's asynchronous publishing.
const (
	// fillMaxPending publishes may await their acknowledgement at once.
	fillMaxPending = 4096
	// fillAckWait bounds the wait for one acknowledgement, and for a
	// free slot under fillMaxPending.
	fillAckWait = 30 * time.Second
	// fillProgressEvery is how often progress goes to the log.
	fillProgressEvery = 2 * time.Second
)

// filler publishes a scale set into the bucket the bridge created.
type filler struct {
	js     jetstream.JetStream
	kv     jetstream.KeyValue
	prefix string // the bucket's KV subject prefix
	opts   []jetstream.PublishOpt
	log    io.Writer

	mu       sync.Mutex
	failed   int
	firstErr error
}

// fillBucket stores n settled payments of the providers of list in bucket, which the bridge must
// have created (so that its settings are the bridge's), by publishing
// straight to the bucket's KV subjects, many acknowledgements awaited at
// once.
func fillBucket(ctx context.Context, nc *nats.Conn, bucket string, list []providers.Descriptor, n int, log io.Writer) (*fillResult, scaleSet, error) {
	f := &filler{prefix: "$KV." + bucket + ".", log: log, opts: []jetstream.PublishOpt{jetstream.WithStallWait(fillAckWait)}}
	var err error
	f.js, err = jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(fillMaxPending),
		jetstream.WithPublishAsyncTimeout(fillAckWait),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) { f.fail(err) }))
	if err != nil {
		return nil, scaleSet{}, err
	}
	if f.kv, err = f.js.KeyValue(ctx, bucket); err != nil {
		return nil, scaleSet{}, fmt.Errorf("status bucket %s, as the bridge created it: %w", bucket, err)
	}
	before, err := f.status(ctx)
	if err != nil {
		return nil, scaleSet{}, err
	}
	set := newScaleSet(list, n, time.Now(), before.StreamInfo().State.LastSeq)
	if before.StreamInfo().Config.AllowMsgTTL {
		// As the bridge writes them: with the default retention.
		f.opts = append(f.opts, jetstream.WithMsgTTL(bridge.DefaultConfig().StatusRetention))
	}
	fmt.Fprintf(log, "paybench: filling bucket %s with %d settled payments\n", bucket, n)
	start := time.Now()
	if err := f.publish(ctx, set, start); err != nil {
		return nil, scaleSet{}, err
	}
	took := time.Since(start).Seconds()
	if failed, err := f.failures(); err != nil {
		return nil, scaleSet{}, fmt.Errorf("filling bucket %s: %d of %d publishes failed, the first: %w", bucket, failed, n, err)
	}
	res := &fillResult{Records: n, Seconds: took, PerSecond: float64(n) / took}
	after, err := f.status(ctx)
	if err != nil {
		return nil, scaleSet{}, err
	}
	res.StoredValues, res.StoreBytes = after.Values(), after.Bytes()
	res.BytesPerRecord = float64(after.Bytes()-before.Bytes()) / float64(n)
	fmt.Fprintf(log, "paybench: filled %d records in %.1fs (%.0f/s), store %.2f GiB\n",
		res.Records, res.Seconds, res.PerSecond, gib(res.StoreBytes))
	return res, set, nil
}

// publish sends every record of set and waits for all acknowledgements.
func (f *filler) publish(ctx context.Context, set scaleSet, start time.Time) error {
	nextReport := start.Add(fillProgressEvery)
	for i := 1; i <= set.n; i++ {
		key, rec := set.record(i)
		value, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("encoding record %s: %w", key, err)
		}
		if _, err := f.js.PublishAsync(f.prefix+key, value, f.opts...); err != nil {
			return fmt.Errorf("publishing record %d of %d (%s): %w", i, set.n, key, err)
		}
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if now := time.Now(); now.After(nextReport) {
				fmt.Fprintf(f.log, "paybench: filled %d of %d (%.0f/s)\n", i, set.n, float64(i)/now.Sub(start).Seconds())
				nextReport = now.Add(fillProgressEvery)
			}
		}
	}
	select {
	case <-f.js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(2 * fillAckWait):
		return fmt.Errorf("filling: %d publishes still unacknowledged after %s", f.js.PublishAsyncPending(), 2*fillAckWait)
	}
}

// fail counts a failed publish and keeps the first error.
func (f *filler) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed++
	if f.firstErr == nil {
		f.firstErr = err
	}
}

// failures are the failed publishes so far and the first error.
func (f *filler) failures() (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed, f.firstErr
}

// status is the bucket's stream state now.
func (f *filler) status(ctx context.Context) (*jetstream.KeyValueBucketStatus, error) {
	st, err := f.kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("status of bucket %s: %w", f.kv.Bucket(), err)
	}
	s, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok {
		return nil, errors.New("bucket status without stream state")
	}
	return s, nil
}
