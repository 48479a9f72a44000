package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// runJSON runs paybench with args and --json, within the given time, and
// returns the result it printed; a failed run fails the test.
func runJSON(t *testing.T, within time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if err := run(ctx, append(args, "--json"), &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	var res result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("output is not the result JSON: %v\n%s", err, stdout.String())
	}
	return res
}

// checkTable fails the test unless the table of res holds every one of
// wants.
func checkTable(t *testing.T, res *result, wants ...string) {
	t.Helper()
	var table bytes.Buffer
	writeTable(&table, res)
	for _, want := range wants {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}
