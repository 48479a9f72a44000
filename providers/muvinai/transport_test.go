package muvinai_test

import (
	"testing"

	"github.com/paybridge/paybridge/providers/providertest"
)

func TestTransport(t *testing.T) {
	providertest.RunTransport(t, harness())
}
