package bridge

import "hash/maphash"

// flatLRU maps payment keys to view entries and forgets the least recently
// used past its size, holding no pointer the garbage collector must
// follow: the entries live in one slice of slots, the keys' bytes in one
// byte slice, and the index maps a key's 64-bit hash to a slot. A map of
// strings and a list of nodes (golang-lru, before) made a view of 100,000
// payments 200,000 objects that every collection marked: 12.6 ms a
// collection against 0.8 ms now (BenchmarkViewCollection; golang-lru's
// figure from the same loop, before its removal).
//
// Keys whose hashes collide share an index entry and are chained through
// the slots (maphash, seeded per process: ids that collide cannot be
// chosen from outside). A removed key's bytes stay in keys until they are
// more than half of it; then the live keys are copied to a new slice.
//
// It is not safe for concurrent use: the view holds its lock.
type flatLRU struct {
	size    int
	n       int              // keys held
	index   map[uint64]int32 // key hash → the first slot with that hash
	slots   []lruSlot
	keys    []byte // the slots' keys, end to end, with removed ones in between
	garbage int    // bytes of keys that no slot names any more
	// head is the most recently used slot, tail the least, free the first
	// unused one (chained through next); -1 for none.
	head, tail, free int32
	seed             maphash.Seed
	hashOf           func(seed maphash.Seed, key string) uint64 // maphash.String; tests make collisions
}

// lruSlot is one key and its entry; without pointers, like viewEntry.
type lruSlot struct {
	hash       uint64
	keyAt      uint64 // the key is keys[keyAt : keyAt+keyLen]
	keyLen     uint32
	prev, next int32 // towards the head, towards the tail; -1 at the ends
	sameHash   int32 // the next slot whose key has this hash, -1 none
	entry      viewEntry
}

func newFlatLRU(size int) *flatLRU {
	return &flatLRU{size: size, index: make(map[uint64]int32), head: -1, tail: -1, free: -1,
		seed: maphash.MakeSeed(), hashOf: maphash.String}
}

// Len is the number of keys held.
func (l *flatLRU) Len() int { return l.n }

// Get returns key's entry and makes it the most recently used.
func (l *flatLRU) Get(key string) (viewEntry, bool) {
	i := l.find(l.hashOf(l.seed, key), key)
	if i < 0 {
		return viewEntry{}, false
	}
	l.toFront(i)
	return l.slots[i].entry, true
}

// Peek returns key's entry and leaves the order as it is.
func (l *flatLRU) Peek(key string) (viewEntry, bool) {
	i := l.find(l.hashOf(l.seed, key), key)
	if i < 0 {
		return viewEntry{}, false
	}
	return l.slots[i].entry, true
}

// Add stores e for key as the most recently used, and reports whether the
// least recently used key was forgotten to make room.
func (l *flatLRU) Add(key string, e viewEntry) (evicted bool) {
	h := l.hashOf(l.seed, key)
	if i := l.find(h, key); i >= 0 {
		l.slots[i].entry = e
		l.toFront(i)
		return false
	}
	if l.n >= l.size {
		l.remove(l.tail)
		evicted = true
	}
	i := l.free
	if i >= 0 {
		l.free = l.slots[i].next
	} else {
		l.slots = append(l.slots, lruSlot{})
		i = int32(len(l.slots) - 1)
	}
	l.compactKeys(len(key))
	s := &l.slots[i]
	*s = lruSlot{hash: h, keyAt: uint64(len(l.keys)), keyLen: uint32(len(key)), prev: -1, next: l.head, sameHash: -1, entry: e}
	l.keys = append(l.keys, key...)
	if first, ok := l.index[h]; ok {
		s.sameHash = first
	}
	l.index[h] = i
	if l.head >= 0 {
		l.slots[l.head].prev = i
	}
	l.head = i
	if l.tail < 0 {
		l.tail = i
	}
	l.n++
	return evicted
}

// Remove forgets key, and reports whether it was held.
func (l *flatLRU) Remove(key string) bool {
	i := l.find(l.hashOf(l.seed, key), key)
	if i < 0 {
		return false
	}
	l.remove(i)
	return true
}

// find returns the slot holding key, whose hash is h, or -1.
func (l *flatLRU) find(h uint64, key string) int32 {
	i, ok := l.index[h]
	if !ok {
		return -1
	}
	for ; i >= 0; i = l.slots[i].sameHash {
		s := &l.slots[i]
		if string(l.keys[s.keyAt:s.keyAt+uint64(s.keyLen)]) == key { // compared in place, not copied
			return i
		}
	}
	return -1
}

// remove unlinks slot i from the order and its hash, and frees it.
func (l *flatLRU) remove(i int32) {
	s := &l.slots[i]
	l.unlink(i)
	if first := l.index[s.hash]; first == i {
		if s.sameHash < 0 {
			delete(l.index, s.hash)
		} else {
			l.index[s.hash] = s.sameHash
		}
	} else {
		p := first
		for l.slots[p].sameHash != i {
			p = l.slots[p].sameHash
		}
		l.slots[p].sameHash = s.sameHash
	}
	l.garbage += int(s.keyLen)
	*s = lruSlot{prev: -1, next: l.free, sameHash: -1}
	l.free = i
	l.n--
}

// unlink takes slot i out of the order.
func (l *flatLRU) unlink(i int32) {
	s := &l.slots[i]
	if s.prev >= 0 {
		l.slots[s.prev].next = s.next
	} else {
		l.head = s.next
	}
	if s.next >= 0 {
		l.slots[s.next].prev = s.prev
	} else {
		l.tail = s.prev
	}
	s.prev, s.next = -1, -1
}

// toFront makes slot i the most recently used.
func (l *flatLRU) toFront(i int32) {
	if l.head == i {
		return
	}
	l.unlink(i)
	s := &l.slots[i]
	s.next = l.head
	l.slots[l.head].prev = i
	l.head = i
}

// compactKeys copies the live keys to a new slice, in the order of their
// slots, when removed keys are more than half of what keys would hold
// after adding another of n bytes.
func (l *flatLRU) compactKeys(n int) {
	if l.garbage <= (len(l.keys)+n)/2 {
		return
	}
	keys := make([]byte, 0, 2*(len(l.keys)-l.garbage+n))
	for i := range l.slots {
		s := &l.slots[i] // an unused one has no key
		at := len(keys)
		keys = append(keys, l.keys[s.keyAt:s.keyAt+uint64(s.keyLen)]...)
		s.keyAt = uint64(at)
	}
	l.keys, l.garbage = keys, 0
}
