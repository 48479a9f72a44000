package events_test

import (
	"encoding/json"
	"os/exec"
	"strings"
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

// events writes its dataschema ids out rather than importing schemas (which
// links a validator); they must stay the $id of the schema files.
func TestDataSchemaIsTheSchemaID(t *testing.T) {
	for file, id := range map[string]string{
		schemas.StatusChanged: events.DataSchemaStatusChanged,
		schemas.WatchExpired:  events.DataSchemaWatchExpired,
	} {
		b, err := schemas.FS.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var head struct {
			ID string `json:"$id"`
		}
		if err := json.Unmarshal(b, &head); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if head.ID == "" || head.ID != id {
			t.Errorf("%s has $id %q, events says %q", file, head.ID, id)
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

// A subscriber importing events must not link the bridge's server side: no
// JSON Schema validator, no NATS server, no retrying HTTP client.
func TestImportsStayLight(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, heavy := range []string{
		"github.com/santhosh-tekuri/jsonschema",
		"github.com/nats-io/nats-server",
		"github.com/hashicorp/go-retryablehttp",
		"github.com/paybridge/paybridge/schemas",
	} {
		for pkg := range strings.Lines(string(out)) {
			if strings.HasPrefix(pkg, heavy) {
				t.Errorf("events links %s", strings.TrimSpace(pkg))
			}
		}
	}
}
