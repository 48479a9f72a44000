package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/providers/all"
	"github.com/paybridge/paybridge/schemas"
)

// A fill record is a valid stored status record, of a settled payment
// whose event is out, under the key the bridge would look it up by.
func TestScaleRecordsAreStoredStatusRecords(t *testing.T) {
	set := newScaleSet(all.List, 5_000_000, time.Now(), 7)
	for _, i := range []int{1, 2, 5_000_000} {
		key, rec := set.record(i)
		value, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		if err := schemas.Validate(schemas.StatusRecord, value); err != nil {
			t.Errorf("record %d: %v\n%s", i, err, value)
		}
		if key != bridge.Key(rec.Provider, rec.PaymentID) || !rec.Published || !rec.Terminal || rec.Revision != 7+uint64(i) {
			t.Errorf("record %d under %s: %+v", i, key, rec)
		}
	}
	for i, d := range all.List {
		if got, id := set.payment(i + 1); got.Name != d.Name || id != fmt.Sprintf("scale-%s-%07d", d.Name, i+1) {
			t.Errorf("payment %d is %s's %s, want the providers in turn", i+1, got.Name, id)
		}
	}
	if d, id := set.payment(5_000_000); id != "scale-"+d.Name+"-5000000" {
		t.Errorf("payment 5,000,000 is %s", id)
	}
	if d, id := newScaleSet(all.List, 10_000_000, time.Now(), 0).payment(1); id != "scale-"+d.Name+"-00000001" {
		t.Errorf("with 10,000,000 payments, payment 1 is %s; ids must keep one width", id)
	}
}

func TestScaleRefusesWhatTheDiskCannotHold(t *testing.T) {
	err := checkFreeSpace(t.TempDir(), 1<<40)
	if err == nil || !strings.Contains(err.Error(), "free some space or set TMPDIR") {
		t.Errorf("a trillion records: want a refusal naming the way out, got %v", err)
	}
	if err := checkFreeSpace(t.TempDir(), 1000); err != nil {
		t.Errorf("a thousand records: %v", err)
	}
}
