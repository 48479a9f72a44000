package bridge

import "testing"

// Watches wait as message schedules, which nats-server has from 2.12 on; a
// version this cannot read is left to the stream's configuration to tell.
// (Checked by hand against a real nats-server 2.11.9: serve stops at start
// with ErrNoMsgSchedules and leaves the watch stream as it was.)
func TestSchedulesMessagesFromNATSServer212(t *testing.T) {
	for v, want := range map[string]bool{
		"2.11.9":      false,
		"2.10.22":     false,
		"2.9.25":      false,
		"2.12.0":      true,
		"2.12.0-RC.1": true,
		"2.15.2":      true,
		"3.0.0":       true,
		"":            true,
		"dev":         true,
	} {
		if got := schedulesMessages(v); got != want {
			t.Errorf("schedulesMessages(%q) = %v, want %v", v, got, want)
		}
	}
}
