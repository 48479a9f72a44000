package bridge_test

import (
	"encoding/base64"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"testing/quick"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/bridge"
)

// validKey is the NATS KV key rule.
var validKey = regexp.MustCompile(`^[-/_=\.a-zA-Z0-9]+$`)

func TestKeyIsAlwaysValid(t *testing.T) {
	check := func(id string) bool {
		k := bridge.Key("coinbar", id)
		return validKey.MatchString(k) && !strings.HasPrefix(k, ".") && !strings.HasSuffix(k, ".") && !strings.Contains(k, "..")
	}
	if err := quick.Check(check, &quick.Config{MaxCount: 20000}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a.b.*>", "../../x", "$JS.API.>", " ", "=", "=abc", "ü€", strings.Repeat("x", 201), strings.Repeat("y", 256)} {
		if !check(id) {
			t.Errorf("Key(%q) = %q is not a valid KV key", id, bridge.Key("coinbar", id))
		}
	}
}

func TestKeyIsInjective(t *testing.T) {
	// Decoding the key back must give the id: then no two ids share a key.
	decode := func(key string) string {
		rest := strings.TrimPrefix(key, "coinbar.")
		if enc, ok := strings.CutPrefix(rest, "="); ok {
			b, err := base64.RawURLEncoding.DecodeString(enc)
			if err != nil {
				t.Fatalf("key %q: %v", key, err)
			}
			return string(b)
		}
		return rest
	}
	roundTrip := func(id string) bool { return id == "" || decode(bridge.Key("coinbar", id)) == id }
	if err := quick.Check(roundTrip, &quick.Config{MaxCount: 20000}); err != nil {
		t.Fatal(err)
	}
	// Ids built from the alphabets that meet at the boundary.
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := "aZ09_-=.%/ü"
	seen := map[string]string{}
	for range 50000 {
		n := 1 + r.IntN(6)
		var b strings.Builder
		for range n {
			b.WriteString(string([]rune(alphabet)[r.IntN(len([]rune(alphabet)))]))
		}
		id := b.String()
		k := bridge.Key("coinbar", id)
		if other, ok := seen[k]; ok && other != id {
			t.Fatalf("ids %q and %q share key %q", id, other, k)
		}
		seen[k] = id
		if decode(k) != id {
			t.Fatalf("key %q does not decode to %q", k, id)
		}
	}
}

func TestEventIDIsDeterministicAndDistinct(t *testing.T) {
	a := bridge.EventID("coinbar", "p1", 7, paybridge.StatusPaid)
	if a != bridge.EventID("coinbar", "p1", 7, paybridge.StatusPaid) {
		t.Fatal("same inputs gave different ids")
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(a) {
		t.Fatalf("event id %q is not a version-8 UUID", a)
	}
	others := []string{
		bridge.EventID("coinbar", "p1", 8, paybridge.StatusPaid),
		bridge.EventID("coinbar", "p1", 7, paybridge.StatusRefunded),
		bridge.EventID("muvinai", "p1", 7, paybridge.StatusPaid),
		bridge.EventID("coinbar", "p2", 7, paybridge.StatusPaid),
		bridge.EventID("coinbar.p", "1", 7, paybridge.StatusPaid), // length-prefixed parts do not run together
	}
	for _, o := range others {
		if o == a {
			t.Fatalf("different inputs share id %s", a)
		}
	}
}

// Every key and subject built from a request is bounded: the longest id a
// request may carry gives a key far under NATS's control-line limit (4 KiB
// by default), which a KV read puts in its subject. Orders and requests
// with longer ids are refused before any key is built.
func TestKeysOfTheLongestIDsAreBounded(t *testing.T) {
	for _, id := range []string{strings.Repeat("x", 256), strings.Repeat("é", 128), strings.Repeat("\U0001F600", 64), strings.Repeat(".", 256)} {
		key := bridge.Key("muvinai", id)
		watchTrigger := "paybridge.watch." + key + ".trigger"
		directGet := "$JS.API.DIRECT.GET.KV_payment_status.$KV.payment_status." + key
		if len(key) > 400 || len(watchTrigger) > 450 || len(directGet) > 500 {
			t.Fatalf("%d-byte id: key %d bytes, trigger subject %d, KV read subject %d", len(id), len(key), len(watchTrigger), len(directGet))
		}
	}
}
