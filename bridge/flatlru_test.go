package bridge

import (
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// lruModel is the obvious least-recently-used map, to hold flatLRU to.
type lruModel struct {
	size    int
	entries map[string]viewEntry
	order   []string // least recently used first
}

func (m *lruModel) use(key string) {
	m.order = slices.DeleteFunc(m.order, func(k string) bool { return k == key })
	m.order = append(m.order, key)
}

func (m *lruModel) add(key string, e viewEntry) (evicted bool) {
	if _, ok := m.entries[key]; !ok && len(m.entries) >= m.size {
		delete(m.entries, m.order[0])
		m.order = m.order[1:]
		evicted = true
	}
	m.entries[key] = e
	m.use(key)
	return evicted
}

// The flat LRU keeps, forgets and orders keys as the obvious one does,
// whatever the hashes: with maphash, and with a hash that sends every key
// to one of three chains.
func TestFlatLRUBehavesLikeAnLRU(t *testing.T) {
	hashes := map[string]func(maphash.Seed, string) uint64{
		"maphash":    maphash.String,
		"collisions": func(_ maphash.Seed, key string) uint64 { return uint64(len(key) % 3) },
	}
	keys := make([]string, 60)
	for i := range keys {
		keys[i] = fmt.Sprintf("coinbar.%s%d", strings.Repeat("x", i%7), i)
	}
	for name, hash := range hashes {
		for _, size := range []int{1, 2, 7, 40, 100} {
			t.Run(fmt.Sprintf("%s/size %d", name, size), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(size), 1))
				l := newFlatLRU(size)
				l.hashOf = hash
				m := &lruModel{size: size, entries: map[string]viewEntry{}}
				for op := range 20_000 {
					key := keys[rng.IntN(len(keys))]
					e := viewEntry{kvRevision: uint64(op), status: status(op % 5)}
					switch rng.IntN(4) {
					case 0:
						got, gotOK := l.Get(key)
						want, wantOK := m.entries[key]
						if wantOK {
							m.use(key)
						}
						if got != want || gotOK != wantOK {
							t.Fatalf("op %d: Get(%q) = %v %v, want %v %v", op, key, got, gotOK, want, wantOK)
						}
					case 1:
						got, gotOK := l.Peek(key)
						want, wantOK := m.entries[key]
						if got != want || gotOK != wantOK {
							t.Fatalf("op %d: Peek(%q) = %v %v, want %v %v", op, key, got, gotOK, want, wantOK)
						}
					case 2:
						_, held := m.entries[key]
						if got, want := l.Add(key, e), m.add(key, e); got != want {
							t.Fatalf("op %d: Add(%q) evicted %v, want %v", op, key, got, want)
						}
						// Removed keys' bytes are dropped when a new key is
						// added and they are half of the slice: it stays
						// within twice the live keys.
						if live := keyBytes(m.entries); !held && len(l.keys) > 2*live {
							t.Fatalf("op %d: %d bytes of keys held for %d live", op, len(l.keys), live)
						}
					case 3:
						_, want := m.entries[key]
						if want {
							delete(m.entries, key)
							m.order = slices.DeleteFunc(m.order, func(k string) bool { return k == key })
						}
						if got := l.Remove(key); got != want {
							t.Fatalf("op %d: Remove(%q) = %v, want %v", op, key, got, want)
						}
					}
					if l.Len() != len(m.entries) {
						t.Fatalf("op %d: Len() = %d, want %d", op, l.Len(), len(m.entries))
					}
					if got := l.order(); !slices.Equal(got, m.order) {
						t.Fatalf("op %d: order %q, want %q", op, got, m.order)
					}
				}
			})
		}
	}
}

func keyBytes(entries map[string]viewEntry) int {
	n := 0
	for k := range entries {
		n += len(k)
	}
	return n
}

// order lists the keys least recently used first, walking the links both
// ways to check them.
func (l *flatLRU) order() []string {
	var keys []string
	for i := l.tail; i >= 0; i = l.slots[i].prev {
		s := &l.slots[i]
		keys = append(keys, string(l.keys[s.keyAt:s.keyAt+uint64(s.keyLen)]))
	}
	var back []string
	for i := l.head; i >= 0; i = l.slots[i].next {
		s := &l.slots[i]
		back = append(back, string(l.keys[s.keyAt:s.keyAt+uint64(s.keyLen)]))
	}
	slices.Reverse(back)
	if !slices.Equal(keys, back) {
		return append(keys, "links disagree:", fmt.Sprint(back))
	}
	return keys
}

// The point of the flat LRU: nothing in it for the collector to follow.
// A pointer added to viewEntry or a slot (a string, a time.Time with its
// location) would make every collection mark the whole view again.
func TestFlatLRUHoldsNoPointers(t *testing.T) {
	l := newFlatLRU(1)
	for _, typ := range []reflect.Type{reflect.TypeFor[lruSlot](), reflect.TypeOf(l.index).Key(), reflect.TypeOf(l.index).Elem(),
		reflect.TypeOf(l.keys).Elem()} {
		if path, ok := pointerIn(typ, typ.Name()); ok {
			t.Errorf("the view's memory holds a pointer at %s", path)
		}
	}
}

// pointerIn returns the path to a pointer the collector would follow in a
// value of typ.
func pointerIn(typ reflect.Type, path string) (string, bool) {
	switch typ.Kind() {
	case reflect.Struct:
		for i := range typ.NumField() {
			f := typ.Field(i)
			if p, ok := pointerIn(f.Type, path+"."+f.Name); ok {
				return p, true
			}
		}
		return "", false
	case reflect.Array:
		return pointerIn(typ.Elem(), path+"[]")
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return "", false
	default:
		return path + " (" + typ.String() + ")", true
	}
}

// A check's lookups and its write of a payment the view holds allocate
// nothing.
func TestFlatLRULookupsDoNotAllocate(t *testing.T) {
	l := newFlatLRU(100)
	key := Key("coinbar", "alloc-1")
	l.Add(key, viewEntry{kvRevision: 1})
	if n := testing.AllocsPerRun(100, func() {
		l.Get(key)
		l.Peek(key)
		l.Add(key, viewEntry{kvRevision: 2})
	}); n != 0 {
		t.Errorf("Get, Peek and Add of a held key allocate %.1f times", n)
	}
}

// BenchmarkViewCollection is what a collection costs with a full view of
// 100,000 payments, and the heap bytes an entry takes. (golang-lru's
// simplelru, before: 12.6 ms a collection on this machine, 200,000
// objects.)
func BenchmarkViewCollection(b *testing.B) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	l := newFlatLRU(100_000)
	for i := range 100_000 {
		l.Add(Key("coinbar", fmt.Sprintf("watch-%07d", i)), viewEntry{kvRevision: uint64(i)})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
	}
	b.StopTimer()
	if l.Len() != 100_000 {
		b.Fatal("the view lost entries")
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/100_000, "heap-B/entry")
	b.ReportMetric(float64(after.HeapObjects)-float64(before.HeapObjects), "heap-objects")
}
