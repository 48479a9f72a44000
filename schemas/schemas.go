// Package schemas holds the JSON Schemas (draft 2020-12) of every payload
// paybridge reads or writes, and an AsyncAPI 3.0 document tying them to their
// NATS subjects. The files are embedded so that tests, tools and the binary
// use exactly the published contract.
//
// The bridge does not run Validate on the hot path: its hand-written decoders
// are faster and give better error messages, and their tests check them
// against these schemas so that the two cannot drift apart.
package schemas

import (
	"embed"
)

//go:embed *.json *.yaml
var FS embed.FS

// BaseID is the prefix of every schema's $id; the rest is the file name.
const BaseID = "https://paybridge.dev/schemas/"

// The schema file names, as accepted by Validate.
const (
	CheckRequest  = "check-request.json"
	StatusRequest = "status-request.json"
	CheckReply    = "check-reply.json"
	StatusRecord  = "status-record.json"
	StatusChanged = "status-changed.json"
	WatchExpired  = "watch-expired.json"
)

// Names lists every schema file in FS.
var Names = []string{CheckRequest, StatusRequest, CheckReply, StatusRecord, StatusChanged, WatchExpired}

// AsyncAPI is the file name of the AsyncAPI document in FS.
const AsyncAPI = "asyncapi.yaml"

// StatusChangedID is the $id of the status-changed event data, the
// dataschema attribute of io.paybridge.payment.status.changed.v1.
const StatusChangedID = BaseID + StatusChanged

// WatchExpiredID is the dataschema of io.paybridge.payment.watch.expired.v1:
// the status-changed fields of the last known status, which may be unknown.
const WatchExpiredID = BaseID + WatchExpired

// ID returns the $id of the schema file name.
func ID(name string) string { return BaseID + name }
