package muvinai

import (
	"testing"

	"github.com/paybridge/paybridge/providers/providertest"
)

// FuzzDecodeStatus: decodeStatus decodes every body as the
// encoding/json decoder it replaced did (decode_reference_test.go). The
// seed corpus, testdata/fuzz/FuzzDecodeStatus, holds the documented body
// and bodies that lie, repeat, fold case or are not JSON.
func FuzzDecodeStatus(f *testing.F) {
	providertest.FuzzSameDecode(f, Name, "text", decodeStatus, referenceDecodeStatus,
		providertest.SeedBody(f))
}
