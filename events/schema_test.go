package events_test

import (
	"encoding/json"
	"testing"

	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/schemas"
)

// The data on the wire, in both modes, is what status-changed.json says.
func TestDataMatchesSchema(t *testing.T) {
	for name, e := range map[string]events.Event{
		"every field":  events.NewStatusChanged("ev-1", fullData()),
		"first sight":  events.NewStatusChanged("ev-2", firstSight()),
		"watch expiry": events.NewWatchExpired("ev-3", fullData()),
	} {
		if e.DataSchema != schemas.StatusChangedID {
			t.Errorf("%s: dataschema %q", name, e.DataSchema)
		}
		bin := mustEncode(t, e, events.Binary)
		if err := schemas.Validate(schemas.StatusChanged, bin.Data); err != nil {
			t.Errorf("%s, binary: %v", name, err)
		}
		var envelope struct{ Data json.RawMessage }
		if err := json.Unmarshal(mustEncode(t, e, events.Structured).Data, &envelope); err != nil {
			t.Fatal(err)
		}
		if err := schemas.Validate(schemas.StatusChanged, envelope.Data); err != nil {
			t.Errorf("%s, structured: %v", name, err)
		}
	}
}
