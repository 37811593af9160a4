package local_test

import (
	"testing"

	"github.com/tributary-cdp/tributary/lake"
	"github.com/tributary-cdp/tributary/lake/laketest"
	"github.com/tributary-cdp/tributary/lake/local"
)

func TestConformance(t *testing.T) {
	laketest.Run(t, func(t *testing.T) lake.Storage {
		st, err := local.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}
