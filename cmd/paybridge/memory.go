package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The memory serve keeps to (unless GOMEMLIMIT is set): a base for the
// runtime and buffers, about 160 bytes an entry of --cache-size (the view
// of the bucket, the one thing that grows with the payments in play; an
// entry is ~140 bytes, and some room for longer keys), and
// inflightBytes for each check or watch re-check in flight (its
// goroutines, its provider connection and their buffers). It is the soft
// memory limit, and with GOGC unset the only thing that starts a
// collection: the heap grows to what the work in flight needs, and is
// collected then. A limit that did not follow the work in flight (the base
// and the view alone, 48 MiB) was below what 2,000 checks in flight hold,
// and the collector ran without pause: 2,695 checks/s where the floor did
// 13,800. Collecting at GOGC's pace below a limit that did follow it still
// cost 100 µs of CPU a check there, against 77 µs collecting at the
// limit. The README's Performance section has the measurements.
//
// The limit never sits below the runtime's memory other than the heap
// plus twice the live heap (the room GOGC=100 would leave): with 100,000
// watches few checks are in flight, and a limit that followed them sat
// below what the process held (the view, the watches' work, goroutine
// stacks): the heap goal was the heap, and the collector ran without
// pause, 43% of the bridge's CPU.
const (
	memoryBase    = 32 << 20
	cacheEntry    = 160
	inflightBytes = 128 << 10
	// tuneEvery is how often the limit follows the work in flight, and
	// tuneHold how long it keeps room for the most seen: a limit that
	// fell with every lull would make the collector chase the memory the
	// last burst left.
	tuneEvery = 100 * time.Millisecond
	tuneHold  = 10 * time.Second
)

// memoryLimit is the soft limit for a view of cacheSize and inflight
// checks in flight.
func memoryLimit(cacheSize, inflight int) int64 {
	return memoryBase + int64(cacheSize)*cacheEntry + int64(inflight)*inflightBytes
}

// memoryTuner keeps the soft memory limit at memoryLimit of the most
// checks in flight over the last tuneHold.
type memoryTuner struct {
	cacheSize int
	inflight  func() int
	peaks     []int        // the most in flight in each tuneEvery, the last tuneHold of them
	set       int64        // the limit set last
	room      func() int64 // the least the limit may be: roomReader.room
}

// tuneGC sets the soft memory limit for an idle bridge and returns the
// tuner that keeps it following the work in flight, or nil when the
// environment sets GOMEMLIMIT, which wins. Unless GOGC is set too, the
// limit alone paces the collector.
func tuneGC(lookupEnv func(string) (string, bool), cacheSize int) *memoryTuner {
	if _, set := lookupEnv("GOMEMLIMIT"); set {
		return nil
	}
	t := &memoryTuner{cacheSize: cacheSize, inflight: func() int { return 0 }, room: newRoomReader().room}
	t.adjust()
	if _, set := lookupEnv("GOGC"); !set {
		debug.SetGCPercent(-1)
	}
	return t
}

// follow adjusts the limit every tuneEvery to inflight's count until ctx
// ends.
func (t *memoryTuner) follow(ctx context.Context, inflight func() int) {
	t.inflight = inflight
	tick := time.NewTicker(tuneEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			t.adjust()
		}
	}
}

// adjust notes the work in flight now and sets the limit for the most of
// the last tuneHold, when it moved by more than a sixteenth.
func (t *memoryTuner) adjust() {
	t.peaks = append(t.peaks, t.inflight())
	if keep := int(tuneHold / tuneEvery); len(t.peaks) > keep {
		t.peaks = t.peaks[len(t.peaks)-keep:]
	}
	limit := max(memoryLimit(t.cacheSize, max0(t.peaks)), t.room())
	if diff := limit - t.set; diff > t.set/16 || -diff > t.set/16 {
		debug.SetMemoryLimit(limit)
		t.set = limit
	}
}

func max0(s []int) int {
	m := 0
	for _, v := range s {
		m = max(m, v)
	}
	return m
}

// roomReader reads what the limit must leave room for: the runtime's
// memory other than the heap, and twice the heap the last collection
// found live.
type roomReader struct {
	samples []metrics.Sample
}

// The runtime/metrics read by roomReader, in the order room uses them.
var roomMetrics = []string{
	"/memory/classes/total:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/objects:bytes",
	"/gc/heap/live:bytes",
}

func newRoomReader() *roomReader {
	r := &roomReader{samples: make([]metrics.Sample, len(roomMetrics))}
	for i, name := range roomMetrics {
		r.samples[i].Name = name
	}
	return r
}

// room is the runtime's memory other than the heap's objects, plus twice
// the live heap.
func (r *roomReader) room() int64 {
	metrics.Read(r.samples)
	v := func(i int) int64 {
		if r.samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return int64(r.samples[i].Value.Uint64())
	}
	total, released, free, objects, live := v(0), v(1), v(2), v(3), v(4)
	return max(0, total-released-free-objects) + 2*live
}
