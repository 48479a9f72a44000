package events_test

import (
	"encoding/json"
	"testing"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/schemas"
)

// The data on the wire, in both modes, is what its dataschema says.
func TestDataMatchesSchema(t *testing.T) {
	never := firstSight()
	never.Status, never.Terminal = paybridge.StatusUnknown, false
	for name, tc := range map[string]struct {
		e      events.Event
		schema string
	}{
		"every field":          {events.NewStatusChanged("ev-1", fullData()), schemas.StatusChanged},
		"first sight":          {events.NewStatusChanged("ev-2", firstSight()), schemas.StatusChanged},
		"watch expiry":         {events.NewWatchExpired("ev-3", fullData()), schemas.WatchExpired},
		"never known, expired": {events.NewWatchExpired("ev-4", never), schemas.WatchExpired},
	} {
		e := tc.e
		if e.DataSchema != schemas.ID(tc.schema) {
			t.Errorf("%s: dataschema %q", name, e.DataSchema)
		}
		bin := mustEncode(t, e, events.Binary)
		if err := schemas.Validate(tc.schema, bin.Data); err != nil {
			t.Errorf("%s, binary: %v", name, err)
		}
		var envelope struct{ Data json.RawMessage }
		if err := json.Unmarshal(mustEncode(t, e, events.Structured).Data, &envelope); err != nil {
			t.Fatal(err)
		}
		if err := schemas.Validate(tc.schema, envelope.Data); err != nil {
			t.Errorf("%s, structured: %v", name, err)
		}
	}
}

// Only a watch-expired event may carry status unknown.
func TestUnknownOnlyInWatchExpired(t *testing.T) {
	d := firstSight()
	d.Status, d.Terminal = paybridge.StatusUnknown, false
	if _, err := events.Encode("x", events.NewStatusChanged("ev", d), events.Binary); err == nil {
		t.Fatal("a status-changed event with status unknown was encoded")
	}
	m, err := events.Encode("x", events.NewWatchExpired("ev", d), events.Binary)
	if err != nil {
		t.Fatal(err)
	}
	got, err := events.DecodeMsg(m)
	if err != nil || got.Data.Status != paybridge.StatusUnknown {
		t.Fatalf("decoded %+v, %v", got, err)
	}
	if err := schemas.Validate(schemas.StatusChanged, m.Data); err == nil {
		t.Fatal("status-changed.json accepts unknown")
	}
}
