package bridge

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/events"
)

// Record is the stored last status of one payment, the KV value
// (schemas/status-record.json). Its embedded data is exactly the data of the
// event that announces it, so the event can be rebuilt from the record alone
// by whoever finds it unpublished.
type Record struct {
	events.StatusChanged
	// EventID is the id of the CloudEvent announcing this status; it is
	// derived, so every instance that claims the same change names it alike.
	EventID string `json:"event_id"`
	// Published is false from the claim until the event is acknowledged.
	Published bool `json:"published"`
	// WatchUntil is the deadline of the watch in force, if any, so that a
	// check can say whether the payment is watched without asking the
	// watch stream. A terminal status ends a watch before it.
	WatchUntil *time.Time `json:"watch_until,omitempty"`
}

// Key is the KV key of a payment: "<provider>.<id>" when the id is a plain
// token, else "<provider>.=<unpadded base64url of id>". Plain tokens never
// start with "=", so the mapping is injective, and both forms use only
// characters valid in a KV key.
func Key(provider, paymentID string) string {
	if plainID(paymentID) {
		return provider + "." + paymentID
	}
	return provider + ".=" + base64.RawURLEncoding.EncodeToString([]byte(paymentID))
}

// plainID reports whether id matches ^[A-Za-z0-9_-]{1,200}$.
func plainID(id string) bool {
	if len(id) == 0 || len(id) > 200 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// EventID derives the id of the event announcing that the payment moved to
// status after the record at revision readRev (0: none). Two instances that
// claim the same change compute the same id, and JetStream's duplicate
// window then keeps one copy. It is formatted as a version-8 UUID.
func EventID(provider, paymentID string, readRev uint64, status paybridge.Status) string {
	return deriveID(provider, paymentID, readRev, string(status))
}

// watchExpiredID derives the id of the watch-expired event of the watch
// stored at stream sequence seq; a redelivered expiry repeats it.
func watchExpiredID(provider, paymentID string, seq uint64) string {
	return deriveID(provider, paymentID, seq, "watch.expired")
}

// deriveID hashes length-prefixed parts, so that no two part lists share
// an id, into a version-8 UUID.
func deriveID(provider, paymentID string, n uint64, what string) string {
	h := sha256.New()
	var num [8]byte
	binary.BigEndian.PutUint64(num[:], n)
	for _, part := range [][]byte{[]byte(provider), []byte(paymentID), num[:], []byte(what)} {
		var size [4]byte
		binary.BigEndian.PutUint32(size[:], uint32(len(part)))
		h.Write(size[:])
		h.Write(part)
	}
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}
