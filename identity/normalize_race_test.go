package identity

import (
	"sync"
	"testing"
)

// FoldName runs concurrently in DuckDB UDFs and in the speed layer.
func TestFoldNameConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				if got := FoldName("  José  O'Brien-Smith "); got != "jose obrien smith" {
					t.Errorf("FoldName = %q", got)
					return
				}
			}
		}()
	}
	wg.Wait()
}
