package s3_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tributary-cdp/tributary/internal/testenv"
	"github.com/tributary-cdp/tributary/lake"
	"github.com/tributary-cdp/tributary/lake/laketest"
	"github.com/tributary-cdp/tributary/lake/s3"
)

func TestConformance(t *testing.T) {
	m := testenv.StartMinIO(t)
	var n atomic.Int32
	laketest.Run(t, func(t *testing.T) lake.Storage {
		cfg := s3.DefaultConfig()
		cfg.Endpoint, cfg.AccessKey, cfg.SecretKey, cfg.Secure = m.Endpoint, m.AccessKey, m.SecretKey, false
		// Every subtest gets its own empty bucket or prefix; both layouts are covered.
		i := n.Add(1)
		if err := cfg.ParseURL(fmt.Sprintf("s3://lake%d/some/prefix", i)); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			cfg.Prefix = ""
		}
		st, err := s3.New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

func TestOutageIsAClearError(t *testing.T) {
	m := testenv.StartMinIO(t)
	cfg := s3.DefaultConfig()
	cfg.Endpoint, cfg.AccessKey, cfg.SecretKey, cfg.Secure, cfg.Bucket, cfg.MaxRetries = m.Endpoint, m.AccessKey, m.SecretKey, false, "lake", 1
	st, err := s3.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	m.Stop()
	err = st.Put(context.Background(), "raw/x", strings.NewReader("x"))
	if err == nil || !strings.Contains(err.Error(), m.Endpoint) || lake.IsNotExist(err) {
		t.Fatalf("put during outage: %v", err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(context.Background(), "raw/x", strings.NewReader("x")); err != nil {
		t.Fatalf("put after restart: %v", err)
	}
}
