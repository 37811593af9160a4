package lakeurl_test

import (
	"context"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/tributary-cdp/tributary/internal/testenv"
	"github.com/tributary-cdp/tributary/lake/lakeurl"
	"github.com/tributary-cdp/tributary/lake/s3"
)

func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := lakeurl.Open(ctx, "file://"+dir, s3.Config{})
	if err != nil || st.String() != "file://"+dir {
		t.Fatalf("file: %v, %v", st, err)
	}
	for _, bad := range []string{"ftp://x/y", "file://host/x", "s3://", "/plain/path"} {
		if _, err := lakeurl.Open(ctx, bad, s3.DefaultConfig()); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
	m := testenv.StartMinIO(t)
	sc := s3.DefaultConfig()
	sc.Endpoint, sc.AccessKey, sc.SecretKey, sc.Secure = m.Endpoint, m.AccessKey, m.SecretKey, false
	st, err = lakeurl.Open(ctx, "s3://tributary/prod/lake", sc)
	if err != nil || st.String() != "s3://tributary/prod/lake" {
		t.Fatalf("s3: %v, %v", st, err)
	}
	if err := st.Put(ctx, "_meta/x", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	objs, err := st.(*s3.Storage).Client().StatObject(ctx, "tributary", "prod/lake/_meta/x", minio.StatObjectOptions{})
	if err != nil || objs.Size != 1 {
		t.Fatalf("object not under the prefix: %+v %v", objs, err)
	}
}
