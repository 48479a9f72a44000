package bridge

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"time"

	"github.com/paybridge/paybridge"
)

// Payment names one payment: its provider, the merchant account it belongs
// to ("" for the provider's default account), and the provider's id for
// it. The same id under two accounts is two payments (docs/contract.md,
// "Accounts").
type Payment struct {
	Provider, Account, ID string
}

// Key is the payment's KV key: "<provider>.<id>" for the default account,
// "<provider>.<account>=.<id>" for another, where <id> is the id when it
// is a plain token, else "=" and its unpadded base64url. A plain token
// never starts with "=" and an id token never ends with one, so the
// mapping is injective; every form uses only characters valid in a KV
// key and a subject token, and no account's key is a default key with a
// suffix (a watch subject's ".trigger" stays unambiguous).
func (p Payment) Key() string {
	id := p.ID
	if !plainID(id) {
		id = "=" + base64.RawURLEncoding.EncodeToString([]byte(id))
	}
	if p.Account == "" {
		return p.Provider + "." + id
	}
	return p.Provider + "." + p.Account + "=." + id
}

// Key is the KV key of a payment of provider's default account.
func Key(provider, paymentID string) string { return Payment{Provider: provider, ID: paymentID}.Key() }

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
func (p Payment) EventID(readRev uint64, status paybridge.Status) string {
	return p.deriveID(readRev, string(status))
}

// EventID is Payment.EventID for a payment of provider's default account.
func EventID(provider, paymentID string, readRev uint64, status paybridge.Status) string {
	return Payment{Provider: provider, ID: paymentID}.EventID(readRev, status)
}

// watchExpiredID derives the id of the watch-expired event of the watch
// that ends at deadline: every expiry of one watch repeats it (a
// redelivered due message, or two firings of a repeating schedule), and
// JetStream's duplicate window keeps one.
func (p Payment) watchExpiredID(deadline time.Time) string {
	return p.deriveID(uint64(deadline.UnixNano()), "watch.expired.deadline")
}

// deriveID hashes length-prefixed parts, so that no two part lists share
// an id, into a version-8 UUID: the provider, the account when there is
// one (so that a default account's ids are what they were before
// accounts), the payment id, n and what.
func (p Payment) deriveID(n uint64, what string) string {
	h := sha256.New()
	var num [8]byte
	binary.BigEndian.PutUint64(num[:], n)
	parts := [][]byte{[]byte(p.Provider), []byte(p.ID), num[:], []byte(what)}
	if p.Account != "" {
		parts = [][]byte{[]byte(p.Provider), []byte(p.Account), []byte(p.ID), num[:], []byte(what)}
	}
	for _, part := range parts {
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
